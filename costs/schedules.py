from echopilot.plugins import Job

SCHEDULES = [Job(name="cost_guardrails", func="costs.tasks.cost_guardrails_tick", minutes=60)]
