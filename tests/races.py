"""Real races for the PostgreSQL stage: threads released at once, each with its own connection."""

import threading

from django.db import connection


def race(fn, args) -> list:
    """Call fn(arg) for every arg, each in its own thread, all released together by a barrier.

    Returns the results in the order the calls finished. Each thread closes its database connection
    (the test's own connection cannot be shared); an exception in any thread is raised here once all
    threads have ended."""
    args = list(args)
    barrier = threading.Barrier(len(args))
    results, errors = [], []

    def run(arg):
        try:
            barrier.wait()
            results.append(fn(arg))
        except Exception as exc:  # raised below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(arg,)) for arg in args]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
