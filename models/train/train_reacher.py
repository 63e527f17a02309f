"""Train the TD-MPC2-style Reacher-v5 world model and export it as an Augur package.

    python models/train/train_reacher.py --out models/reacher --seed 0

``train_world_model.py`` with the ``reacher`` task (``tasks.py``, data from
``reacher_data.py``); see that script for the steps and the options.
"""

from train_world_model import main

if __name__ == "__main__":
    main("reacher")
