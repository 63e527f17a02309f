//! `--ros-args`: node name and namespace remaps, topic remaps, parameters from `-p`
//! and `--params-file`, and ROS 2 name resolution, following rcl's rules.
//!
//! One deliberate difference from rcl: parameter values are read as YAML 1.2, so
//! `yes`/`no`/`on`/`off` are strings, not booleans.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde_norway::Value;

/// One `from:=to` topic remap that applies to this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    pub from: String,
    pub to: String,
}

/// A ROS 2 parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Bool(bool),
    Integer(i64),
    Double(f64),
    String(String),
    BoolArray(Vec<bool>),
    IntegerArray(Vec<i64>),
    DoubleArray(Vec<f64>),
    StringArray(Vec<String>),
}

impl ParamValue {
    /// The value as a YAML flow scalar or sequence that `-p name:=<it>` reads back
    /// to the same value (doubles keep every bit, strings stay strings).
    pub fn to_yaml(&self) -> String {
        fn double(x: f64) -> String {
            if x.is_nan() {
                ".nan".into()
            } else if x.is_infinite() {
                if x > 0.0 { ".inf" } else { "-.inf" }.into()
            } else {
                // `{:?}` is the shortest text that parses back to the same bits, and
                // keeps a `.` or exponent so YAML reads a float.
                format!("{x:?}")
            }
        }
        fn string(text: &str) -> String {
            // A JSON string is a YAML double-quoted scalar.
            serde_json::Value::from(text).to_string()
        }
        fn list<T>(items: &[T], item: impl Fn(&T) -> String) -> String {
            let items: Vec<String> = items.iter().map(item).collect();
            format!("[{}]", items.join(", "))
        }
        match self {
            ParamValue::Bool(b) => b.to_string(),
            ParamValue::Integer(i) => i.to_string(),
            ParamValue::Double(x) => double(*x),
            ParamValue::String(text) => string(text),
            ParamValue::BoolArray(items) => list(items, |b| b.to_string()),
            ParamValue::IntegerArray(items) => list(items, |i| i.to_string()),
            ParamValue::DoubleArray(items) => list(items, |x| double(*x)),
            ParamValue::StringArray(items) => list(items, |t| string(t)),
        }
    }
}

/// What `--ros-args` asked of this node.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosArgs {
    /// `__node:=` (or `-r name:__node:=`): the node's new name.
    pub node_name: Option<String>,
    /// `__ns:=`: the node's namespace (absolute).
    pub namespace: Option<String>,
    /// Topic remaps for this node, in command-line order (the first match wins).
    pub remaps: Vec<Remap>,
    /// Parameters: params files in order, then `-p` in order; later ones win.
    pub params: BTreeMap<String, ParamValue>,
    /// The `--params-file` paths, in order.
    pub params_files: Vec<PathBuf>,
    /// `--enclave`: the DDS Security enclave (with `ROS_SECURITY_ENABLE=true`).
    pub enclave: Option<String>,
}

/// A malformed `--ros-args` tail or params file; each names the argument or file.
#[derive(Debug, thiserror::Error)]
pub enum RosArgsError {
    #[error("--ros-args: {flag} needs a value")]
    MissingValue { flag: String },
    #[error("--ros-args: unknown argument {argument:?}")]
    UnknownArgument { argument: String },
    #[error("--ros-args: remap {argument:?} is not `from:=to` or `node:from:=to`")]
    BadRemap { argument: String },
    #[error("--ros-args: parameter {argument:?}: {reason}")]
    BadParam { argument: String, reason: String },
    #[error("--ros-args: {argument:?}: {reason}")]
    BadName { argument: String, reason: String },
    #[error("params file {}{}: {reason}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    ParamsFile {
        path: PathBuf,
        line: Option<usize>,
        reason: String,
    },
}

/// An invalid topic name or remap target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ROS 2 name {name:?}: {reason}")]
pub struct NameError {
    pub name: String,
    pub reason: &'static str,
}

/// Parses the arguments after `--ros-args` (up to `--` or the end; a further
/// `--ros-args` is skipped). `node_name` is the node's default name, used to pick
/// node-specific remaps and params-file sections.
pub fn parse_ros_args(args: &[String], node_name: &str) -> Result<RosArgs, RosArgsError> {
    let mut out = RosArgs::default();
    let mut cli_params: Vec<(String, ParamValue)> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value_of = |flag: &str| {
            args.next()
                .cloned()
                .ok_or_else(|| RosArgsError::MissingValue {
                    flag: flag.to_owned(),
                })
        };
        match arg.as_str() {
            "--" => break,
            "--ros-args" => {}
            "-r" | "--remap" => {
                let rule = value_of(arg)?;
                apply_remap(&mut out, &rule, node_name)?;
            }
            "-p" | "--param" => {
                let rule = value_of(arg)?;
                let (name, value) =
                    rule.split_once(":=")
                        .ok_or_else(|| RosArgsError::BadParam {
                            argument: rule.clone(),
                            reason: "expected name:=value".to_owned(),
                        })?;
                if name.is_empty() {
                    return Err(RosArgsError::BadParam {
                        argument: rule.clone(),
                        reason: "empty parameter name".to_owned(),
                    });
                }
                let yaml: Value =
                    serde_norway::from_str(value).map_err(|e| RosArgsError::BadParam {
                        argument: rule.clone(),
                        reason: e.to_string(),
                    })?;
                let value = param_value(&yaml).map_err(|reason| RosArgsError::BadParam {
                    argument: rule.clone(),
                    reason,
                })?;
                cli_params.push((name.to_owned(), value));
            }
            "--params-file" => out.params_files.push(PathBuf::from(value_of(arg)?)),
            "--log-level" => {
                value_of(arg)?;
            }
            "-e" | "--enclave" => out.enclave = Some(value_of(arg)?),
            "--log-config-file" => {
                value_of(arg)?;
            }
            "--enable-rosout-logs"
            | "--disable-rosout-logs"
            | "--enable-stdout-logs"
            | "--disable-stdout-logs"
            | "--enable-external-lib-logs"
            | "--disable-external-lib-logs" => {}
            other => {
                return Err(RosArgsError::UnknownArgument {
                    argument: other.to_owned(),
                })
            }
        }
    }

    let name = out
        .node_name
        .clone()
        .unwrap_or_else(|| node_name.to_owned());
    let namespace = out.namespace.clone().unwrap_or_else(|| "/".to_owned());
    let fully_qualified = join(&namespace, &name);
    for path in out.params_files.clone() {
        for (key, value) in read_params_file(&path, &fully_qualified)? {
            out.params.insert(key, value);
        }
    }
    out.params.extend(cli_params);
    Ok(out)
}

fn apply_remap(out: &mut RosArgs, rule: &str, node_name: &str) -> Result<(), RosArgsError> {
    let bad = || RosArgsError::BadRemap {
        argument: rule.to_owned(),
    };
    let (lhs, to) = rule.split_once(":=").ok_or_else(bad)?;
    // `node:from` limits the rule to one node; a `:` can appear nowhere else.
    let (node, from) = match lhs.split_once(':') {
        Some((node, from)) => (Some(node), from),
        None => (None, lhs),
    };
    if from.is_empty() || to.is_empty() || node == Some("") || to.contains(':') {
        return Err(bad());
    }
    if node.is_some_and(|node| node != node_name) {
        return Ok(());
    }
    let bad_name = |reason: &'static str| RosArgsError::BadName {
        argument: rule.to_owned(),
        reason: reason.to_owned(),
    };
    match from {
        "__node" | "__name" => {
            validate_node_name(to).map_err(bad_name)?;
            out.node_name = Some(to.to_owned());
        }
        "__ns" => {
            if !to.starts_with('/') {
                return Err(bad_name("a namespace must start with '/'"));
            }
            if to != "/" {
                validate_full_name(to).map_err(bad_name)?;
            }
            out.namespace = Some(to.to_owned());
        }
        _ => {
            validate_name(from).map_err(bad_name)?;
            validate_name(to).map_err(bad_name)?;
            out.remaps.push(Remap {
                from: from.to_owned(),
                to: to.to_owned(),
            });
        }
    }
    Ok(())
}

/// Resolves a topic name as rcl does: `~/x` is private to the node, a relative name
/// goes under the namespace, `{node}` and `{ns}` are substituted, then the first
/// remap whose expanded `from` equals the expanded name replaces it.
pub fn resolve_topic(
    name: &str,
    namespace: &str,
    node_name: &str,
    remaps: &[Remap],
) -> Result<String, NameError> {
    let expanded = expand(name, namespace, node_name)?;
    for remap in remaps {
        if expand(&remap.from, namespace, node_name)? == expanded {
            return expand(&remap.to, namespace, node_name);
        }
    }
    Ok(expanded)
}

fn expand(name: &str, namespace: &str, node_name: &str) -> Result<String, NameError> {
    validate_name(name).map_err(|reason| NameError {
        name: name.to_owned(),
        reason,
    })?;
    let substituted = name
        .replace("{node}", node_name)
        .replace("{namespace}", namespace)
        .replace("{ns}", namespace);
    let full = if let Some(rest) = substituted.strip_prefix('~') {
        format!("{}{rest}", join(namespace, node_name))
    } else if substituted.starts_with('/') {
        substituted
    } else {
        join(namespace, &substituted)
    };
    // Substituting `/` for `{ns}` can produce `//`.
    let full = full.replace("//", "/");
    validate_full_name(&full).map_err(|reason| NameError {
        name: full.clone(),
        reason,
    })?;
    Ok(full)
}

fn join(namespace: &str, name: &str) -> String {
    if namespace.ends_with('/') {
        format!("{namespace}{name}")
    } else {
        format!("{namespace}/{name}")
    }
}

/// A topic name before expansion (rcl_validate_topic_name).
fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.ends_with('/') {
        return Err("ends with '/'");
    }
    if name.contains("//") {
        return Err("contains '//'");
    }
    if let Some(rest) = name.strip_prefix('~') {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return Err("'~' must be followed by '/'");
        }
    }
    let mut depth = 0;
    for (index, c) in name.char_indices() {
        match c {
            '{' if depth == 0 => depth = 1,
            '}' if depth == 1 => depth = 0,
            '{' | '}' => return Err("unbalanced curly braces"),
            '~' if index != 0 => return Err("'~' is only allowed at the start"),
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '~') => {}
            _ => return Err("only letters, digits, '_', '/', '~' and {substitutions} are allowed"),
        }
    }
    if depth != 0 {
        return Err("unbalanced curly braces");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("must not start with a digit");
    }
    if name
        .split('/')
        .any(|token| token.starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err("a name token must not start with a digit");
    }
    Ok(())
}

/// A fully qualified name (rmw_validate_full_topic_name).
pub fn validate_full_name(name: &str) -> Result<(), &'static str> {
    if !name.starts_with('/') {
        return Err("must be absolute");
    }
    if name.len() > 1 && name.ends_with('/') {
        return Err("ends with '/'");
    }
    if name.contains("//") {
        return Err("contains '//'");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
    {
        return Err("only letters, digits, '_' and '/' are allowed");
    }
    if name
        .split('/')
        .any(|token| token.starts_with(|c: char| c.is_ascii_digit()))
    {
        return Err("a name token must not start with a digit");
    }
    Ok(())
}

/// A node name (rcl_validate_node_name): letters, digits and `_`, not starting with a digit.
pub fn validate_node_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty node name");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err("a node name has only letters, digits and '_'");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("a node name must not start with a digit");
    }
    Ok(())
}

/// Reads one params file and returns, in file order, the parameters of every section
/// whose node key matches `fully_qualified` (`/**`, `/ns/*`, `node`, `/ns/node`).
fn read_params_file(
    path: &Path,
    fully_qualified: &str,
) -> Result<Vec<(String, ParamValue)>, RosArgsError> {
    let text = std::fs::read_to_string(path).map_err(|e| RosArgsError::ParamsFile {
        path: path.to_owned(),
        line: None,
        reason: e.to_string(),
    })?;
    parse_params_text(path, &text, fully_qualified)
}

/// [`read_params_file`] on the file's text, read already; `path` names it in errors.
pub fn parse_params_text(
    path: &Path,
    text: &str,
    fully_qualified: &str,
) -> Result<Vec<(String, ParamValue)>, RosArgsError> {
    let file_error = |line: Option<usize>, reason: String| RosArgsError::ParamsFile {
        path: path.to_owned(),
        line,
        reason,
    };
    let document: Value = serde_norway::from_str(text)
        .map_err(|e| file_error(e.location().map(|l| l.line()), e.to_string()))?;
    // serde_norway's Value has no positions; point at the key's first occurrence.
    let line_of = |key: &str| {
        text.lines()
            .position(|line| line.trim_start().starts_with(&format!("{key}:")))
            .map(|index| index + 1)
    };
    let Value::Mapping(nodes) = document else {
        return Err(file_error(
            Some(1),
            "expected a mapping of node names to `ros__parameters`".to_owned(),
        ));
    };
    let mut params = Vec::new();
    for (key, section) in &nodes {
        let Some(key) = key.as_str() else {
            return Err(file_error(
                None,
                format!("node key {key:?} is not a string"),
            ));
        };
        let Some(parameters) = section.get("ros__parameters") else {
            return Err(file_error(
                line_of(key),
                format!("section {key:?} has no `ros__parameters`"),
            ));
        };
        if !node_key_matches(key, fully_qualified) {
            continue;
        }
        let Value::Mapping(parameters) = parameters else {
            return Err(file_error(
                line_of(key),
                format!("`{key}.ros__parameters` is not a mapping"),
            ));
        };
        flatten(parameters, "", &mut params).map_err(|(name, reason)| {
            let leaf = name.rsplit('.').next().unwrap_or(&name).to_owned();
            file_error(line_of(&leaf), format!("parameter {name:?}: {reason}"))
        })?;
    }
    Ok(params)
}

fn flatten(
    mapping: &serde_norway::Mapping,
    prefix: &str,
    out: &mut Vec<(String, ParamValue)>,
) -> Result<(), (String, String)> {
    for (key, value) in mapping {
        let key = match key {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            other => return Err((format!("{prefix}{other:?}"), "key is not a name".to_owned())),
        };
        let name = format!("{prefix}{key}");
        match value {
            Value::Mapping(nested) => flatten(nested, &format!("{name}."), out)?,
            value => {
                let value = param_value(value).map_err(|reason| (name.clone(), reason))?;
                out.push((name, value));
            }
        }
    }
    Ok(())
}

/// `*` matches one name token, `**` any number of them (rcl's node-name wildcards).
/// A key without a leading `/` is relative to the root namespace.
fn node_key_matches(key: &str, fully_qualified: &str) -> bool {
    let key = key.strip_prefix('/').unwrap_or(key);
    let pattern: Vec<&str> = key.split('/').collect();
    let name: Vec<&str> = fully_qualified.trim_start_matches('/').split('/').collect();
    glob(&pattern, &name)
}

fn glob(pattern: &[&str], name: &[&str]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((&"**", rest)) => (0..=name.len()).any(|skip| glob(rest, &name[skip..])),
        Some((token, rest)) => match name.split_first() {
            Some((head, tail)) => (*token == "*" || token == head) && glob(rest, tail),
            None => false,
        },
    }
}

fn param_value(value: &Value) -> Result<ParamValue, String> {
    let scalar = |value: &Value| -> Result<ParamValue, String> {
        match value {
            Value::Bool(b) => Ok(ParamValue::Bool(*b)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(ParamValue::Integer(i))
                } else if n.is_f64() {
                    Ok(ParamValue::Double(n.as_f64().unwrap_or(f64::NAN)))
                } else {
                    Err(format!("integer {n} does not fit in 64 bits"))
                }
            }
            Value::String(s) => Ok(ParamValue::String(s.clone())),
            Value::Null => Err("a parameter needs a value (got null)".to_owned()),
            Value::Sequence(_) => Err("nested lists are not ROS 2 parameters".to_owned()),
            Value::Mapping(_) => Err("a mapping is not a parameter value".to_owned()),
            Value::Tagged(_) => Err("YAML tags are not supported".to_owned()),
        }
    };
    let Value::Sequence(items) = value else {
        return scalar(value);
    };
    let items = items.iter().map(scalar).collect::<Result<Vec<_>, _>>()?;
    let Some(first) = items.first() else {
        return Err("an empty list has no ROS 2 parameter type".to_owned());
    };
    let mixed = || "list elements must all have the same type".to_owned();
    Ok(match first {
        ParamValue::Bool(_) => ParamValue::BoolArray(
            items
                .iter()
                .map(|v| match v {
                    ParamValue::Bool(b) => Ok(*b),
                    _ => Err(mixed()),
                })
                .collect::<Result<_, _>>()?,
        ),
        ParamValue::Integer(_) => ParamValue::IntegerArray(
            items
                .iter()
                .map(|v| match v {
                    ParamValue::Integer(i) => Ok(*i),
                    _ => Err(mixed()),
                })
                .collect::<Result<_, _>>()?,
        ),
        ParamValue::Double(_) => ParamValue::DoubleArray(
            items
                .iter()
                .map(|v| match v {
                    ParamValue::Double(d) => Ok(*d),
                    _ => Err(mixed()),
                })
                .collect::<Result<_, _>>()?,
        ),
        ParamValue::String(_) => ParamValue::StringArray(
            items
                .iter()
                .map(|v| match v {
                    ParamValue::String(s) => Ok(s.clone()),
                    _ => Err(mixed()),
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => unreachable!("scalar() never returns an array"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    fn parse(text: &str) -> Result<RosArgs, RosArgsError> {
        parse_ros_args(&args(text), "augur")
    }

    fn remap(from: &str, to: &str) -> Remap {
        Remap {
            from: from.to_owned(),
            to: to.to_owned(),
        }
    }

    fn params_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("augur-ros-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn remaps_node_name_namespace_and_topics() {
        let parsed = parse(
            "-r __node:=pendulum_mpc --remap __ns:=/robot -r /joint_states:=/js -r cmd:=/x/cmd",
        )
        .unwrap();
        assert_eq!(parsed.node_name.as_deref(), Some("pendulum_mpc"));
        assert_eq!(parsed.namespace.as_deref(), Some("/robot"));
        assert_eq!(
            parsed.remaps,
            vec![remap("/joint_states", "/js"), remap("cmd", "/x/cmd")]
        );
    }

    #[test]
    fn node_specific_remaps_apply_only_to_that_node() {
        let parsed =
            parse("-r augur:/a:=/b -r other:/c:=/d -r augur:__ns:=/n -r other:__node:=x").unwrap();
        assert_eq!(parsed.remaps, vec![remap("/a", "/b")]);
        assert_eq!(parsed.namespace.as_deref(), Some("/n"));
        assert_eq!(parsed.node_name, None);
    }

    #[test]
    fn parsing_stops_at_double_dash() {
        let parsed = parse("-r /a:=/b -- -r /c:=/d").unwrap();
        assert_eq!(parsed.remaps, vec![remap("/a", "/b")]);
    }

    #[test]
    fn param_values_round_trip_through_their_yaml() {
        let values = [
            ParamValue::Bool(true),
            ParamValue::Integer(-7),
            ParamValue::Double(0.1 + 0.2),
            ParamValue::Double(3.0),
            ParamValue::Double(1e-300),
            ParamValue::Double(f64::NEG_INFINITY),
            ParamValue::String("3.0".into()),
            ParamValue::String("a \"quoted\": yes".into()),
            ParamValue::BoolArray(vec![false, true]),
            ParamValue::IntegerArray(vec![1, 2]),
            ParamValue::DoubleArray(vec![-2.0, 0.05]),
            ParamValue::StringArray(vec!["joint_states".into(), "true".into()]),
        ];
        for value in values {
            let rule = format!("x:={}", value.to_yaml());
            let parsed = parse_ros_args(&["-p".to_string(), rule.clone()], "augur").unwrap();
            assert_eq!(parsed.params["x"], value, "{rule}");
        }
    }

    #[test]
    fn param_values_are_yaml_scalars_and_lists() {
        let parsed = parse(
            "-p a:=true -p b:=42 -p c:=0.05 -p d:=hello -p e:=[1,2,3] -p f:=[0.5,1.5] \
             -p g:=[true,false] -p h:=[x,y] -p i:='7' -p j:=-3 -p k:=1e3",
        )
        .unwrap();
        let p = &parsed.params;
        assert_eq!(p["a"], ParamValue::Bool(true));
        assert_eq!(p["b"], ParamValue::Integer(42));
        assert_eq!(p["c"], ParamValue::Double(0.05));
        assert_eq!(p["d"], ParamValue::String("hello".into()));
        assert_eq!(p["e"], ParamValue::IntegerArray(vec![1, 2, 3]));
        assert_eq!(p["f"], ParamValue::DoubleArray(vec![0.5, 1.5]));
        assert_eq!(p["g"], ParamValue::BoolArray(vec![true, false]));
        assert_eq!(
            p["h"],
            ParamValue::StringArray(vec!["x".into(), "y".into()])
        );
        assert_eq!(p["i"], ParamValue::String("7".into()));
        assert_eq!(p["j"], ParamValue::Integer(-3));
        assert_eq!(p["k"], ParamValue::Double(1000.0));
    }

    #[test]
    fn params_file_sections_match_the_node_and_nested_keys_flatten() {
        let path = params_file(
            "sections.yaml",
            "/**:\n  ros__parameters:\n    period: 0.1\n    shared: 1\n\
             augur:\n  ros__parameters:\n    period: 0.05\n    planner:\n      horizon: 16\n      noise:\n        std: 0.3\n\
             other_node:\n  ros__parameters:\n    period: 9.0\n\
             /robot/augur:\n  ros__parameters:\n    shared: 2\n",
        );
        let parsed = parse(&format!("--params-file {}", path.display())).unwrap();
        assert_eq!(parsed.params_files, vec![path.clone()]);
        let p = &parsed.params;
        assert_eq!(p["period"], ParamValue::Double(0.05));
        assert_eq!(p["shared"], ParamValue::Integer(1));
        assert_eq!(p["planner.horizon"], ParamValue::Integer(16));
        assert_eq!(p["planner.noise.std"], ParamValue::Double(0.3));
        assert_eq!(p.len(), 4);

        // Under /robot the fully qualified key matches, the root-relative one does not.
        let parsed = parse(&format!("-r __ns:=/robot --params-file {}", path.display())).unwrap();
        assert_eq!(parsed.params["shared"], ParamValue::Integer(2));
        assert_eq!(parsed.params["period"], ParamValue::Double(0.1));
    }

    #[test]
    fn later_files_override_earlier_ones_and_cli_params_override_files() {
        let first = params_file(
            "first.yaml",
            "augur:\n  ros__parameters:\n    a: 1\n    b: 1\n    c: 1\n",
        );
        let second = params_file(
            "second.yaml",
            "/*:\n  ros__parameters:\n    b: 2\n    c: 2\n",
        );
        let parsed = parse(&format!(
            "-p c:=3 --params-file {} --params-file {}",
            first.display(),
            second.display()
        ))
        .unwrap();
        assert_eq!(parsed.params["a"], ParamValue::Integer(1));
        assert_eq!(parsed.params["b"], ParamValue::Integer(2));
        assert_eq!(parsed.params["c"], ParamValue::Integer(3));
    }

    #[test]
    fn log_level_and_logging_flags_are_accepted() {
        let parsed = parse("--log-level debug --disable-rosout-logs -p a:=1").unwrap();
        assert_eq!(parsed.params["a"], ParamValue::Integer(1));
    }

    #[test]
    fn errors_name_the_argument() {
        let message = |text: &str| parse(text).unwrap_err().to_string();
        assert!(message("-r").contains("-r needs a value"));
        assert!(message("--params-file").contains("--params-file needs a value"));
        assert!(message("--frobnicate").contains("--frobnicate"));
        assert!(message("-r a=b").contains("\"a=b\""));
        assert!(message("-r :=b").contains("\":=b\""));
        assert!(message("-r __ns:=robot").contains("must start with '/'"));
        assert!(message("-r __node:=a/b").contains("\"__node:=a/b\""));
        assert!(message("-r /a:=/9b").contains("digit"));
        assert!(message("-p novalue").contains("\"novalue\""));
        assert!(message("-p :=1").contains("empty parameter name"));
        assert!(message("-p x:=[1,a]").contains("same type"));
        assert!(message("-p x:=[]").contains("empty list"));
        assert!(message("-p x:=~").contains("null"));
        assert!(message("-p x:=[1").contains("\"x:=[1\""));
    }

    #[test]
    fn params_file_errors_name_the_file_and_line() {
        let missing = PathBuf::from("/nonexistent/augur.yaml");
        let message = parse(&format!("--params-file {}", missing.display()))
            .unwrap_err()
            .to_string();
        assert!(message.contains("/nonexistent/augur.yaml"), "{message}");

        let bad = params_file("bad.yaml", "augur:\n  ros__parameters:\n    a: [1,\n");
        let error = parse(&format!("--params-file {}", bad.display())).unwrap_err();
        let RosArgsError::ParamsFile { path, line, .. } = &error else {
            panic!("{error}")
        };
        assert_eq!(path, &bad);
        assert!(line.is_some(), "{error}");

        let no_section = params_file("nosection.yaml", "augur:\n  period: 1\n");
        let error = parse(&format!("--params-file {}", no_section.display())).unwrap_err();
        assert!(error.to_string().contains("line 1"), "{error}");
        assert!(error.to_string().contains("ros__parameters"), "{error}");

        let bad_value = params_file(
            "badvalue.yaml",
            "augur:\n  ros__parameters:\n    a: 1\n    mixed: [1, x]\n",
        );
        let error = parse(&format!("--params-file {}", bad_value.display())).unwrap_err();
        assert!(error.to_string().contains("line 4"), "{error}");
        assert!(error.to_string().contains("\"mixed\""), "{error}");
    }

    #[test]
    fn relative_private_and_absolute_names_expand() {
        assert_eq!(
            resolve_topic("/joint_states", "/robot", "augur", &[]).unwrap(),
            "/joint_states"
        );
        assert_eq!(
            resolve_topic("joint_states", "/robot", "augur", &[]).unwrap(),
            "/robot/joint_states"
        );
        assert_eq!(
            resolve_topic("joint_states", "/", "augur", &[]).unwrap(),
            "/joint_states"
        );
        assert_eq!(
            resolve_topic("~/predicted_path", "/", "augur", &[]).unwrap(),
            "/augur/predicted_path"
        );
        assert_eq!(
            resolve_topic("~/predicted_path", "/robot", "augur", &[]).unwrap(),
            "/robot/augur/predicted_path"
        );
        assert_eq!(
            resolve_topic("{node}/state", "/robot", "augur", &[]).unwrap(),
            "/robot/augur/state"
        );
    }

    #[test]
    fn remaps_match_expanded_names_and_the_first_wins() {
        let remaps = [
            remap("joint_states", "/sim/joint_states"),
            remap("/robot/joint_states", "/never"),
            remap("~/predicted_path", "plan"),
        ];
        assert_eq!(
            resolve_topic("/robot/joint_states", "/robot", "augur", &remaps).unwrap(),
            "/sim/joint_states"
        );
        assert_eq!(
            resolve_topic("~/predicted_path", "/robot", "augur", &remaps).unwrap(),
            "/robot/plan"
        );
        assert_eq!(
            resolve_topic("/other", "/robot", "augur", &remaps).unwrap(),
            "/other"
        );
    }

    #[test]
    fn invalid_names_are_rejected_with_a_reason() {
        let reason = |name: &str| resolve_topic(name, "/", "augur", &[]).unwrap_err().reason;
        assert_eq!(reason(""), "empty name");
        assert_eq!(reason("/a/"), "ends with '/'");
        assert_eq!(reason("~x"), "'~' must be followed by '/'");
        assert_eq!(reason("a~"), "'~' is only allowed at the start");
        assert_eq!(reason("/a//b"), "contains '//'");
        assert_eq!(reason("9a"), "must not start with a digit");
        assert_eq!(reason("/a/9b"), "a name token must not start with a digit");
        assert_eq!(
            reason("a-b"),
            "only letters, digits, '_', '/', '~' and {substitutions} are allowed"
        );
        assert_eq!(reason("{node"), "unbalanced curly braces");
    }
}
