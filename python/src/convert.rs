//! Between Python objects and JSON values: configurations and states come in as dicts,
//! decisions, metrics and records go out as dicts with the JSON API's keys.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// A JSON value as the Python object `json.loads` would give.
pub(crate) fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => PyInt::new(py, i).into_any(),
            (None, Some(u), _) => PyInt::new(py, u).into_any(),
            (_, _, f) => PyFloat::new(py, f.unwrap_or(f64::NAN)).into_any(),
        },
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python object as a JSON value: `None`, bools, ints, floats (non-finite ones kept as
/// strings, which the state reader names and refuses), strings, lists and tuples, dicts with
/// string keys, and anything with `tolist()` (NumPy arrays and scalars). `path` names the
/// value in errors.
pub(crate) fn from_py(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyTypeError::new_err(format!(
            "{path}: the integer {obj} is too large"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Ok(Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_cow()?.into_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "{path}: keys must be strings, got {}",
                    k.repr().map_or_else(|_| "?".to_owned(), |r| r.to_string())
                ))
            })?;
            let key = key.to_cow()?.into_owned();
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            map.insert(key, from_py(&v, &child)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for (i, item) in obj.try_iter()?.enumerate() {
            items.push(from_py(&item?, &format!("{path}[{i}]"))?);
        }
        return Ok(Value::Array(items));
    }
    if obj.hasattr("tolist")? {
        return from_py(&obj.call_method0("tolist")?, path);
    }
    Err(PyTypeError::new_err(format!(
        "{path}: cannot use a {} here; give a number, string, bool, None, list or dict",
        obj.get_type().name()?
    )))
}

/// Writes a Python object as the JSON text the state reader takes, as Python's `json.dumps`
/// would: non-finite floats as the bare tokens `NaN`, `Infinity` and `-Infinity`, which the
/// reader accepts and the loop then judges (so a state decides exactly as the same line
/// would in `crefl replay`).
pub(crate) fn write_json(obj: &Bound<'_, PyAny>, path: &str, out: &mut String) -> PyResult<()> {
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        match Number::from_f64(v) {
            Some(n) => out.push_str(&n.to_string()),
            None if v.is_nan() => out.push_str("NaN"),
            None if v > 0.0 => out.push_str("Infinity"),
            None => out.push_str("-Infinity"),
        }
        return Ok(());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        out.push('{');
        for (i, (k, v)) in d.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("{path}: keys must be strings")))?;
            let key = key.to_cow()?;
            out.push_str(&Value::String(key.to_string()).to_string());
            out.push(':');
            let child = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            write_json(&v, &child, out)?;
        }
        out.push('}');
        return Ok(());
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        out.push('[');
        for (i, item) in obj.try_iter()?.enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_json(&item?, &format!("{path}[{i}]"), out)?;
        }
        out.push(']');
        return Ok(());
    }
    if !obj.is_instance_of::<PyInt>()
        && !obj.is_instance_of::<PyString>()
        && obj.hasattr("tolist")?
    {
        return write_json(&obj.call_method0("tolist")?, path, out);
    }
    out.push_str(&from_py(obj, path)?.to_string());
    Ok(())
}
