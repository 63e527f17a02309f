"""Start the Augur node for the pendulum: `ros2 launch launch/pendulum.launch.py`.

`augur` must be on PATH (`cargo install --path bridge-ros2`, or point `augur` at
target/release/augur). Arguments: model, params_file, trigger (rate|observation),
transport (dds|zenoh).
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

HERE = Path(__file__).resolve().parent


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument("model", default_value=str(HERE.parent / "models" / "pendulum")),
        DeclareLaunchArgument("params_file", default_value=str(HERE / "params" / "pendulum.yaml")),
        DeclareLaunchArgument("trigger", default_value="rate"),
        DeclareLaunchArgument("transport", default_value="dds"),
        Node(
            executable="augur",
            name="augur",
            arguments=[
                "run",
                "--model", LaunchConfiguration("model"),
                "--trigger", LaunchConfiguration("trigger"),
                "--transport", LaunchConfiguration("transport"),
            ],
            parameters=[LaunchConfiguration("params_file")],
            output="screen",
        ),
    ])
