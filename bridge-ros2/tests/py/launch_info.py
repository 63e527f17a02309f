"""Prints what the pendulum launch files would start, as JSON, without ROS launch:
the executable, its arguments with launch arguments replaced by their defaults, and
the parameter files. Read by bridge-ros2/tests/launch_files.rs.

  launch_info.py launch/pendulum.launch.py launch/pendulum.launch.xml
"""

import ast
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def from_python(path):
    tree = ast.parse(Path(path).read_text())
    here = Path(path).resolve().parent
    env = {"HERE": here}
    defaults = {}
    node = None
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        name = getattr(call.func, "id", None)
        if name == "DeclareLaunchArgument":
            key = ast.literal_eval(call.args[0])
            default = next(k.value for k in call.keywords if k.arg == "default_value")
            defaults[key] = evaluate(default, env, defaults)
        elif name == "Node":
            node = call
    kwargs = {k.arg: k.value for k in node.keywords}
    return {
        "executable": ast.literal_eval(kwargs["executable"]),
        "name": ast.literal_eval(kwargs["name"]),
        "arguments": [evaluate(a, env, defaults) for a in kwargs["arguments"].elts],
        "params_files": [evaluate(p, env, defaults) for p in kwargs["parameters"].elts],
    }


def evaluate(expr, env, defaults):
    """The few expression forms the launch file uses."""
    if isinstance(expr, ast.Constant):
        return expr.value
    if isinstance(expr, ast.Call) and getattr(expr.func, "id", None) == "LaunchConfiguration":
        return defaults[ast.literal_eval(expr.args[0])]
    if isinstance(expr, ast.Call) and getattr(expr.func, "id", None) == "str":
        return str(evaluate(expr.args[0], env, defaults))
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return Path(evaluate(expr.left, env, defaults)) / evaluate(expr.right, env, defaults)
    if isinstance(expr, ast.Attribute) and expr.attr == "parent":
        return Path(evaluate(expr.value, env, defaults)).parent
    if isinstance(expr, ast.Name):
        return env[expr.id]
    raise SystemExit(f"unsupported expression in launch file: {ast.dump(expr)}")


def from_xml(path):
    root = ET.parse(path).getroot()
    here = str(Path(path).resolve().parent)
    defaults = {}

    def substitute(text):
        text = text.replace("$(dirname)", here)
        return re.sub(r"\$\(var (\w+)\)", lambda m: defaults[m.group(1)], text)

    for arg in root.findall("arg"):
        defaults[arg.get("name")] = substitute(arg.get("default"))
    node = root.find("node")
    return {
        "executable": node.get("exec"),
        "name": node.get("name"),
        "arguments": substitute(node.get("args")).split(),
        "params_files": [substitute(p.get("from")) for p in node.findall("param")],
    }


def main():
    result = {}
    for path in sys.argv[1:]:
        info = from_python(path) if path.endswith(".py") else from_xml(path)
        info["arguments"] = [str(a) for a in info["arguments"]]
        info["params_files"] = [str(Path(p).resolve()) for p in info["params_files"]]
        result[Path(path).name] = info
    print(json.dumps(result))


if __name__ == "__main__":
    main()
