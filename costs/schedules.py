from echopilot.plugins import Job

SCHEDULES = [
    Job(name="cost_guardrails", func="costs.tasks.cost_guardrails_tick", minutes=60),
    # Usage reports and holds are in the audit chain within a minute (costs.sealing).
    Job(name="costs_audit_seal", func="costs.tasks.seal_audit_trail", minutes=1),
]
