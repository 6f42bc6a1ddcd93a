"""Jobs: the queue every long or periodic piece of work goes through, and the schedules that feed it.

`queue` is the interface the rest of Loopdeck calls (enqueue, cancel, get, list_jobs); `runner` is what
a worker calls (claim, progress, finish, reap); `transport` wraps the queue libraries; `schedules`
keeps the periodic jobs in the database.
"""
