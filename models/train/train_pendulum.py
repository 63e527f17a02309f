"""Train the TD-MPC2-style pendulum world model and export it as an Augur package.

    python models/train/train_pendulum.py --out models/pendulum --seed 0

``train_world_model.py`` with the ``pendulum`` task (``tasks.py``, data from
``pendulum_data.py``); see that script for the steps and the options.
"""

from train_world_model import main

if __name__ == "__main__":
    main("pendulum")
