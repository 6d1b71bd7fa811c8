//! What a generate or chat request asks of a model beyond completion, checked before any
//! inference: `images` (standard base64, decoded as Go decodes `[]byte`) need a vision model
//! and `suffix` a model that fills in the middle. wollama's text models have neither, so
//! such a request is a clear 400 naming the model, in Ollama's `<full name> does not
//! support …` form, instead of a prompt silently missing its images or suffix.
//!
//! Also `_debug_render_only`: the rendered prompt instead of a generation.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::go_time::now_rfc3339;

/// The images of a request field (`images`), validated: how many there are.
fn count_images(v: Option<&Value>, go_field: &str) -> ApiResult<usize> {
    let Some(list) = v.and_then(Value::as_array) else { return Ok(0) };
    for item in list {
        let Some(text) = item.as_str() else {
            return Err(ApiError::bad_request(format!(
                "json: cannot unmarshal {} into Go struct field {go_field} of type []uint8",
                crate::decode::json_kind(item)
            )));
        };
        base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| ApiError::bad_request(go_base64_error(text, e)))?;
    }
    Ok(list.len())
}

/// Go's `illegal base64 data at input byte N`.
fn go_base64_error(text: &str, e: base64::DecodeError) -> String {
    let at = match e {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => i,
        base64::DecodeError::InvalidLength(n) => n,
        base64::DecodeError::InvalidPadding => text.trim_end_matches('=').len(),
    };
    format!("illegal base64 data at input byte {at}")
}

/// Images of a generate request (decode errors first, as Ollama binds the body first).
pub fn generate_images(images: Option<&Value>) -> ApiResult<usize> {
    count_images(images, "GenerateRequest.images")
}

/// Images over all messages of a chat request.
pub fn chat_images(messages: &[Value]) -> ApiResult<usize> {
    messages.iter().map(|m| count_images(m.get("images"), "Message.messages.images")).sum()
}

/// Refuses what the model `full_name` cannot do.
pub fn require(full_name: &str, images: usize, suffix: Option<&str>) -> ApiResult<()> {
    // Insert would need a template that places `.Suffix` (or the model's FIM tokens); the
    // guest renders neither yet, so no model here fills in the middle.
    if suffix.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(format!("{full_name} does not support insert")));
    }
    if images > 0 {
        return Err(ApiError::bad_request(format!("{full_name} does not support images")));
    }
    Ok(())
}

/// `_debug_render_only` answer of generate (`chat: false`) or chat: the prompt as the model
/// would see it, `done: false`, no inference.
pub fn debug_answer(model: &str, rendered: &str, images: usize, chat: bool) -> Value {
    let mut v = json!({ "model": model, "created_at": now_rfc3339(), "done": false,
                        "_debug_info": { "rendered_template": rendered, "image_count": images } });
    if chat {
        v["message"] = json!({ "role": "assistant", "content": "" });
    } else {
        v["response"] = json!("");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_decode_as_go_decodes_bytes() {
        let ok = json!({"images": ["aGVsbG8=", ""]});
        assert_eq!(generate_images(ok.get("images")).unwrap(), 2);
        // (images, Go's error)
        let cases = [
            (json!(["data:image/png;base64,aGVsbG8="]), "illegal base64 data at input byte 4"),
            (json!([5]), "json: cannot unmarshal number into Go struct field GenerateRequest.images of type []uint8"),
        ];
        for (images, want) in cases {
            let req = json!({ "images": images });
            assert_eq!(generate_images(req.get("images")).unwrap_err().message, want, "{images}");
        }
        let msgs = [json!({"role": "user", "content": "x", "images": ["aGk="]}), json!({"role": "user"})];
        assert_eq!(chat_images(&msgs).unwrap(), 1);
    }
}
