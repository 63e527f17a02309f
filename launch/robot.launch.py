"""Start the Augur node on a robot computer: `ros2 launch launch/robot.launch.py`.

The same node as pendulum.launch.py with the deployment settings of docs/deploy.md:
zenoh over mutual TLS with access control (docs/security.md), the control thread
under SCHED_FIFO on its own core, memory locked (launch/params/robot.yaml). The
process needs the rights those settings name (RLIMIT_RTPRIO, RLIMIT_MEMLOCK, or
CAP_SYS_NICE and CAP_IPC_LOCK); without them it stops with an error that says which.
Arguments: model, params_file, zenoh_connect.
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
        DeclareLaunchArgument("params_file", default_value=str(HERE / "params" / "robot.yaml")),
        DeclareLaunchArgument("zenoh_connect", default_value="tls/127.0.0.1:7447"),
        Node(
            executable="augur",
            name="augur",
            arguments=[
                "run",
                "--model", LaunchConfiguration("model"),
                "--transport", "zenoh",
                "--zenoh-connect", LaunchConfiguration("zenoh_connect"),
            ],
            parameters=[LaunchConfiguration("params_file")],
            output="screen",
        ),
    ])
