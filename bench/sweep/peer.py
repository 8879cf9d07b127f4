"""Optuna's TPESampler on bench/sweep's objective: same space, same budget.

    peer.py TRIALS SEEDS

prints one line per seed: optuna_best seed=N best=V (the score is
maximised; main.go's score() is the same function).
"""
import math
import sys

import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)


def score(x, y, lr, leaves, mode):
    loss = (x - 1) ** 2 + 0.5 * (x + y + 1) ** 2 + (math.log10(lr) + 2) ** 2 + 0.3 * (math.log2(leaves) - 5) ** 2
    if mode != "b":
        loss += 1
    return 1 / (1 + loss)


def objective(trial):
    return score(
        trial.suggest_float("x", -5, 5),
        trial.suggest_float("y", -5, 5),
        trial.suggest_float("lr", 1e-4, 1, log=True),
        trial.suggest_int("leaves", 2, 256, log=True),
        trial.suggest_categorical("mode", ["a", "b", "c", "d"]),
    )


trials, seeds = int(sys.argv[1]), int(sys.argv[2])
for seed in range(1, seeds + 1):
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    print(f"optuna_best seed={seed} best={study.best_value:.6f}", flush=True)
print(f"optuna_version={optuna.__version__}")
