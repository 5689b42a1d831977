"""The leaderboard's shipped files (tasks, pinned units, the submission schema, reported rows),
installed as ``nabench.leaderboard.files``; submissions and the generated site stay in the repository."""
