"""The non-HTTP service layer, shared by the API process and the Celery workers.

``runs`` (smoke tests, running a tournament), ``background`` (where that work runs: this process's threads or
Celery), ``tasks`` (the Celery app and tasks), ``recorder`` (a tournament's durable record), ``webhook_dispatch``
(from a tournament to contestants' webhooks), ``scheduler`` (start and end times, abandoned tournaments),
``hub`` (the change hub: one leaderboard reader per tournament, fanned out to spectators) and ``live`` (what a
running tournament is doing, read from its bus). It never imports ``arena.api``.
"""
