//! Case data: JSON values checked against declared types, and evaluating
//! CEL expressions over them.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::model::{Condition, Process, VarType, Variable};

/// Case data: variable name → JSON value.
pub type Data = BTreeMap<String, Value>;

/// Checks a value against a declared variable; `Err` says what is wrong.
pub fn check_value(var: &Variable, v: &Value) -> Result<(), String> {
    let ok = match (var.ty, v) {
        // `null` is no value of any type: a required field sent as null is
        // missing, and a null output would stop the case at its condition.
        (_, Value::Null) => false,
        (VarType::String, Value::String(_)) => true,
        (VarType::Number, Value::Number(_)) => true,
        (VarType::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
        (VarType::Bool, Value::Bool(_)) => true,
        (VarType::Date, Value::String(s)) => crate::definition::parse_local_datetime(s).is_ok(),
        (VarType::Enum, Value::String(s)) => var.values.iter().any(|x| x == s),
        (VarType::List, Value::Array(a)) => !a.iter().any(Value::is_null),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let want = match var.ty {
        VarType::String => "text".to_owned(),
        VarType::Number => "a number".to_owned(),
        VarType::Integer => "a whole number".to_owned(),
        VarType::Bool => "true or false".to_owned(),
        VarType::Date => "a date such as 2026-03-20 or 1405-01-15".to_owned(),
        VarType::Enum => format!("one of {}", var.values.join(", ")),
        VarType::List => "a list of values, none of them null".to_owned(),
    };
    Err(format!("`{}` must be {want}, not {v}", var.name))
}

/// Checks values to be set: each a declared variable of `allowed` (when
/// given), of the right type.
pub fn check_data(p: &Process, values: &Data, allowed: Option<&[crate::model::VarIx]>) -> Result<(), String> {
    for (k, v) in values {
        let Some(var) = p.variable(k) else {
            return Err(format!("`{k}` is not case data of process `{}`", p.id));
        };
        if let Some(allowed) = allowed {
            if !allowed.iter().any(|ix| p.var(*ix).name == *k) {
                return Err(format!("this step does not set `{k}`"));
            }
        }
        check_value(var, v)?;
    }
    Ok(())
}

fn to_cel(v: &Value) -> cel::Value {
    match v {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => cel::Value::Int(i),
            None => cel::Value::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Array(a) => cel::Value::List(Arc::new(a.iter().map(to_cel).collect())),
        Value::Object(o) => {
            let m: std::collections::HashMap<cel::objects::Key, cel::Value> = o
                .iter()
                .map(|(k, v)| (cel::objects::Key::String(Arc::new(k.clone())), to_cel(v)))
                .collect();
            cel::Value::Map(cel::objects::Map { map: Arc::new(m) })
        }
    }
}

fn from_cel(v: &cel::Value) -> Result<Value, String> {
    Ok(match v {
        cel::Value::Null => Value::Null,
        cel::Value::Bool(b) => Value::Bool(*b),
        cel::Value::Int(i) => Value::from(*i),
        cel::Value::UInt(u) => Value::from(*u),
        cel::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or("the result is not a finite number")?,
        cel::Value::String(s) => Value::String(s.to_string()),
        cel::Value::List(l) => Value::Array(l.iter().map(from_cel).collect::<Result<_, _>>()?),
        other => return Err(format!("a result of type {other:?} cannot be stored")),
    })
}

thread_local! {
    /// The standard library, registered once per thread; each evaluation
    /// gets a cheap child scope holding its variables.
    static ROOT: cel::Context<'static, 'static> = cel::Context::default();
}

/// Evaluates an expression over case data.
pub fn eval(c: &Condition, data: &Data) -> Result<Value, String> {
    ROOT.with(|root| {
        let mut ctx = root.new_inner_scope();
        for name in &c.variables {
            match data.get(name) {
                Some(v) => ctx.add_variable_from_value(name.as_str(), to_cel(v)),
                None => return Err(format!("`{name}` has no value yet")),
            }
        }
        let v = c.program.execute(&ctx).map_err(|e| format!("`{}`: {e}", c.source))?;
        from_cel(&v)
    })
}

/// Evaluates a condition; it must give true or false.
pub fn eval_bool(c: &Condition, data: &Data) -> Result<bool, String> {
    match eval(c, data)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("`{}` gives {other}, not true or false", c.source)),
    }
}
