"""The leaderboard: fixed tasks, the official evaluator, runs, submissions and the static site.

Modules: :mod:`~nabench.leaderboard.tasks` (task files and deterministic splits),
:mod:`~nabench.leaderboard.evaluator` (scores), :mod:`~nabench.leaderboard.runner` (``nabench run``),
:mod:`~nabench.leaderboard.submissions` (cards and predictions checks), :mod:`~nabench.leaderboard.site`
(results table and static site).
"""
