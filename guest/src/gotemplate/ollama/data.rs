//! The data a chat template sees, built as Ollama's Go types (`template.templateMessage`,
//! `templateTool`, `templateToolCall`, `api.ToolProperty`) so that fields print and encode as
//! they do in Ollama: JSON where those types have `String()` methods, Go struct syntax where
//! not, `json` with each field's `omitempty` rule.

use std::borrow::Cow;

use crate::message::ChatMessage;
use crate::gotemplate::value::{Display, Field, Meta, Omit, Value};

fn s(v: impl AsRef<str>) -> Value {
    Value::str(v)
}

fn json_field(name: &'static str, json: &'static str, omit: Omit, value: Value) -> Field {
    Field::json(name, json, omit, value)
}

fn string_list(v: Option<&serde_json::Value>, type_name: &'static str) -> Value {
    match v.and_then(|x| x.as_array()) {
        Some(a) => Value::list(a.iter().filter_map(|x| x.as_str()).map(s).collect(), Meta::new(type_name)),
        None => Value::list(Vec::new(), Meta::new(type_name).nil(true)),
    }
}

fn any_value(v: Option<&serde_json::Value>) -> Value {
    v.map(|x| Value::from_json(x, true)).unwrap_or(Value::Nil)
}

fn str_field(v: &serde_json::Value, key: &str) -> String {
    v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_string()
}

/// `api.ToolProperty` (printed as a Go struct; JSON with its `omitempty` rules).
fn tool_property(v: &serde_json::Value) -> Value {
    let any_of = match v.get("anyOf").and_then(|x| x.as_array()) {
        Some(a) => Value::list(a.iter().map(tool_property).collect(), Meta::new("[]api.ToolProperty")),
        None => Value::list(Vec::new(), Meta::new("[]api.ToolProperty").nil(true)),
    };
    let types: Option<Vec<Value>> = match v.get("type") {
        Some(serde_json::Value::String(t)) => Some(vec![s(t)]),
        Some(serde_json::Value::Array(a)) => Some(a.iter().filter_map(|x| x.as_str()).map(s).collect()),
        _ => None,
    };
    let mut type_meta = Meta::new("api.PropertyType").display(Display::PropertyType).nil(types.is_none());
    type_meta.json_property_type = true;
    let ty = Value::list(types.unwrap_or_default(), type_meta);
    let enum_ = match v.get("enum").and_then(|x| x.as_array()) {
        Some(a) => Value::list(a.iter().map(|x| Value::from_json(x, true)).collect(), Meta::new("[]interface {}")),
        None => Value::list(Vec::new(), Meta::new("[]interface {}").nil(true)),
    };
    let properties = match v.get("properties").and_then(|x| x.as_object()) {
        Some(o) => Value::map(
            o.iter().map(|(k, x)| (k.clone(), tool_property(x))).collect(),
            Meta::new("*api.ToolPropertiesMap").display(Display::Json),
            false,
        ),
        None => Value::Nil,
    };
    Value::structure(
        vec![
            json_field("AnyOf", "anyOf", Omit::IfEmpty, any_of),
            json_field("Type", "type", Omit::IfEmpty, ty),
            json_field("Items", "items", Omit::IfNil, any_value(v.get("items"))),
            json_field("Description", "description", Omit::IfEmpty, s(str_field(v, "description"))),
            json_field("Enum", "enum", Omit::IfEmpty, enum_),
            json_field("Properties", "properties", Omit::IfNil, properties),
            json_field("Required", "required", Omit::IfEmpty, string_list(v.get("required"), "[]string")),
        ],
        Meta::new("api.ToolProperty"),
    )
}

/// `templateTool` for one `api.Tool`.
fn tool_value(t: &serde_json::Value) -> Value {
    let f = t.get("function").cloned().unwrap_or(serde_json::Value::Null);
    let p = f.get("parameters").cloned().unwrap_or(serde_json::Value::Null);
    let properties = match p.get("properties").and_then(|x| x.as_object()) {
        Some(o) => Value::map(
            o.iter().map(|(k, x)| (k.clone(), tool_property(x))).collect(),
            Meta::new("template.templateProperties").display(Display::JsonOrEmptyObject),
            true,
        ),
        None => Value::map(
            Vec::new(),
            Meta::new("template.templateProperties").display(Display::JsonOrEmptyObject).nil(true),
            false,
        ),
    };
    let parameters = Value::structure(
        vec![
            json_field("Type", "type", Omit::Never, s(str_field(&p, "type"))),
            json_field("Defs", "$defs", Omit::IfNil, any_value(p.get("$defs"))),
            json_field("Items", "items", Omit::IfNil, any_value(p.get("items"))),
            json_field("Required", "required", Omit::IfEmpty, string_list(p.get("required"), "[]string")),
            json_field("Properties", "properties", Omit::Never, properties),
        ],
        Meta::new("template.templateToolFunctionParameters").display(Display::Json),
    );
    let function = Value::structure(
        vec![
            json_field("Name", "name", Omit::Never, s(str_field(&f, "name"))),
            json_field("Description", "description", Omit::Never, s(str_field(&f, "description"))),
            json_field("Parameters", "parameters", Omit::Never, parameters),
        ],
        Meta::new("template.templateToolFunction").display(Display::Json),
    );
    Value::structure(
        vec![
            json_field("Type", "type", Omit::Never, s(str_field(t, "type"))),
            json_field("Items", "items", Omit::IfNil, any_value(t.get("items"))),
            json_field("Function", "function", Omit::Never, function),
        ],
        Meta::new("template.templateTool").display(Display::Json),
    )
}

/// `.Tools` (`templateTools`, printed as JSON).
pub(super) fn tools_value(tools: Option<&serde_json::Value>) -> Value {
    let meta = Meta::new("template.templateTools").display(Display::Json);
    match tools.and_then(|t| t.as_array()) {
        Some(a) => Value::list(a.iter().map(tool_value).collect(), meta),
        None => Value::list(Vec::new(), meta.nil(true)),
    }
}

/// `templateToolCall`s of a message (nil when there are none).
fn tool_calls_value(tc: Option<&serde_json::Value>) -> Value {
    let meta = Meta::new("[]template.templateToolCall");
    let calls: Vec<&serde_json::Value> = tc.and_then(|x| x.as_array()).map(|a| a.iter().collect()).unwrap_or_default();
    if calls.is_empty() {
        return Value::list(Vec::new(), meta.nil(true));
    }
    let items = calls
        .into_iter()
        .map(|c| {
            let f = c.get("function").cloned().unwrap_or(serde_json::Value::Null);
            let parsed_args;
            let args_json = match f.get("arguments") {
                Some(serde_json::Value::String(text)) => {
                    parsed_args = serde_json::from_str::<serde_json::Value>(text).ok();
                    parsed_args.as_ref()
                }
                other => other,
            };
            let args_meta = Meta::new("template.templateArgs").display(Display::JsonOrEmptyObject);
            let arguments = match args_json.and_then(|x| x.as_object()) {
                Some(o) => {
                    Value::map(o.iter().map(|(k, x)| (k.clone(), Value::from_json(x, true))).collect(), args_meta, true)
                }
                None => Value::map(Vec::new(), args_meta.nil(true), false),
            };
            let index = f.get("index").and_then(|x| x.as_i64()).unwrap_or(0);
            let function = Value::structure(
                vec![
                    Field::new("Index", Value::Int(index)),
                    Field::new("Name", s(str_field(&f, "name"))),
                    Field::new("Arguments", arguments),
                ],
                Meta::new("template.templateToolCallFunction"),
            );
            Value::structure(
                vec![Field::new("ID", s(str_field(c, "id"))), Field::new("Function", function)],
                Meta::new("template.templateToolCall"),
            )
        })
        .collect();
    Value::list(items, meta)
}

/// `.Messages` (`[]*templateMessage`).
pub(super) fn messages_value(msgs: &[ChatMessage]) -> Value {
    let meta = Meta::new("[]*template.templateMessage");
    if msgs.is_empty() {
        return Value::list(Vec::new(), meta.nil(true));
    }
    let items = msgs
        .iter()
        .map(|m| {
            Value::structure(
                vec![
                    Field::new("Role", s(&m.role)),
                    Field::new("Content", s(&m.content)),
                    Field::new("Thinking", s(m.thinking.as_deref().unwrap_or(""))),
                    Field::new("Images", Value::list(Vec::new(), Meta::new("[]api.ImageData").nil(true))),
                    Field::new("ToolCalls", tool_calls_value(m.tool_calls.as_ref())),
                    Field::new("ToolName", s(m.tool_name.as_deref().unwrap_or(""))),
                    Field::new("ToolCallID", s("")),
                ],
                Meta { type_name: Cow::Borrowed("*template.templateMessage"), ..Meta::new("") },
            )
        })
        .collect();
    Value::list(items, meta)
}
