"""Ratings across tournaments and achievements: the pure rules (no I/O, no clock).

``skill``: each contestant's rating (openskill's Plackett-Luce model) and how one finished tournament's standings
update it. ``achievements``: XP, levels and badges, from what the record says an entry did (never from a bot's
claims). The service applies both when a tournament finishes (``arena.service.awards``); docs/ratings.md.
"""
