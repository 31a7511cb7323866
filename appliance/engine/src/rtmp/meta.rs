//! `onMetaData` between the AMF0 bytes a hub carries and `rml_rtmp`'s [`StreamMetadata`].
//!
//! `rml_rtmp` sessions parse incoming metadata into the fixed fields of `StreamMetadata` and
//! only send from that struct, so fields outside it (duration, custom encoder keys) do not
//! survive an RTMP hop. The FLV body produced here is the FLV spec's SCRIPTDATA
//! (v10.1, E.4.4.1): the string `onMetaData` followed by an object of properties.

use std::io::Cursor;

use bytes::Bytes;
use rml_rtmp::rml_amf0::{self, Amf0Value};
use rml_rtmp::sessions::StreamMetadata;

const ON_META_DATA: &str = "onMetaData";
const SET_DATA_FRAME: &str = "@setDataFrame";

/// Serializes metadata as an FLV script-data body (`"onMetaData"`, object).
pub fn metadata_to_body(metadata: &StreamMetadata) -> Bytes {
    serialize(None, metadata)
}

/// Metadata as a publisher sends it to a server: `"@setDataFrame"`, `"onMetaData"`, object
/// (what ffmpeg's and OBS's RTMP output write, and servers store for their players).
pub fn metadata_to_data_frame(metadata: &StreamMetadata) -> Bytes {
    serialize(Some(SET_DATA_FRAME), metadata)
}

fn serialize(prefix: Option<&str>, metadata: &StreamMetadata) -> Bytes {
    let mut props = std::collections::HashMap::new();
    let mut num = |name: &str, value: Option<f64>| {
        if let Some(v) = value {
            props.insert(name.to_string(), Amf0Value::Number(v));
        }
    };
    num("width", metadata.video_width.map(f64::from));
    num("height", metadata.video_height.map(f64::from));
    num("videocodecid", metadata.video_codec_id.map(f64::from));
    num("framerate", metadata.video_frame_rate.map(f64::from));
    num("videodatarate", metadata.video_bitrate_kbps.map(f64::from));
    num("audiocodecid", metadata.audio_codec_id.map(f64::from));
    num("audiodatarate", metadata.audio_bitrate_kbps.map(f64::from));
    num("audiosamplerate", metadata.audio_sample_rate.map(f64::from));
    num("audiochannels", metadata.audio_channels.map(f64::from));
    if let Some(stereo) = metadata.audio_is_stereo {
        props.insert("stereo".to_string(), Amf0Value::Boolean(stereo));
    }
    if let Some(encoder) = &metadata.encoder {
        props.insert(
            "encoder".to_string(),
            Amf0Value::Utf8String(encoder.clone()),
        );
    }
    let mut values: Vec<Amf0Value> = prefix
        .map(|p| Amf0Value::Utf8String(p.to_string()))
        .into_iter()
        .collect();
    values.push(Amf0Value::Utf8String(ON_META_DATA.to_string()));
    values.push(Amf0Value::Object(props));
    // Serializing numbers, booleans, strings and an object cannot fail.
    Bytes::from(rml_amf0::serialize(&values).unwrap_or_default())
}

/// The FLV script-data body (`"onMetaData"`, then the values as sent) of an AMF0 data
/// message, with the `@setDataFrame` a publisher puts first removed. Every property is kept
/// byte for byte (durations, custom encoder keys), which [`body_to_metadata`] and
/// `rml_rtmp`'s sessions drop. `None` unless it is `onMetaData` followed by an object or ECMA
/// array that `rml_amf0` reads: a bare `@setDataFrame`, one without an object, a cue point,
/// garbage.
pub fn script_body(data: &[u8]) -> Option<Bytes> {
    let rest = match first_string(data)? {
        (SET_DATA_FRAME, rest) => rest,
        _ => data,
    };
    let mut values = rml_amf0::deserialize(&mut Cursor::new(rest))
        .ok()?
        .into_iter();
    if values.next()?.get_string()? != ON_META_DATA {
        return None;
    }
    values.next()?.get_object_properties()?;
    Some(Bytes::copy_from_slice(rest))
}

/// A script-data body as a publisher sends it to a server: `"@setDataFrame"` before
/// [`script_body`]'s bytes (what ffmpeg's and OBS's RTMP outputs write, and servers store
/// for their players). `None` where [`script_body`] is.
pub fn data_frame(body: &[u8]) -> Option<Bytes> {
    let body = script_body(body)?;
    // "@setDataFrame" is 13 bytes: its AMF0 string header is marker 0x02 and length 13.
    let mut out = Vec::with_capacity(3 + SET_DATA_FRAME.len() + body.len());
    out.push(0x02);
    out.extend_from_slice(&(SET_DATA_FRAME.len() as u16).to_be_bytes());
    out.extend_from_slice(SET_DATA_FRAME.as_bytes());
    out.extend_from_slice(&body);
    Some(Bytes::from(out))
}

/// An AMF0 string at the start of `data` (marker 0x02, 16-bit length) and what follows it.
fn first_string(data: &[u8]) -> Option<(&str, &[u8])> {
    let (&marker, rest) = data.split_first()?;
    if marker != 0x02 {
        return None;
    }
    let len = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let text = rest.get(2..2 + len)?;
    Some((std::str::from_utf8(text).ok()?, rest.get(2 + len..)?))
}

/// Reads an FLV script-data body (`onMetaData` or `@setDataFrame, onMetaData`, then an object or
/// ECMA array). Returns `None` for any other script tag or malformed bytes.
pub fn body_to_metadata(body: &[u8]) -> Option<StreamMetadata> {
    let values = rml_amf0::deserialize(&mut Cursor::new(body)).ok()?;
    let mut values = values.into_iter();
    let mut name = values.next()?.get_string()?;
    if name == SET_DATA_FRAME {
        name = values.next()?.get_string()?;
    }
    if name != ON_META_DATA {
        return None;
    }
    let properties = values.next()?.get_object_properties()?;
    let mut metadata = StreamMetadata::new();
    metadata.apply_metadata_values(properties);
    Some(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut m = StreamMetadata::new();
        m.video_width = Some(320);
        m.video_height = Some(240);
        m.video_codec_id = Some(7);
        m.audio_codec_id = Some(10);
        m.audio_is_stereo = Some(false);
        m.encoder = Some("Lavf".into());
        let body = metadata_to_body(&m);
        assert_eq!(body[0], 0x02, "starts with an AMF0 string");
        assert_eq!(body_to_metadata(&body), Some(m.clone()));
        let frame = metadata_to_data_frame(&m);
        let values = rml_amf0::deserialize(&mut Cursor::new(&frame[..])).expect("AMF0");
        assert_eq!(
            values.first().cloned().and_then(Amf0Value::get_string),
            Some(SET_DATA_FRAME.to_string())
        );
        assert_eq!(body_to_metadata(&frame), Some(m));
    }

    #[test]
    fn script_body_keeps_every_field_and_refuses_bare_frames() {
        let mut props = std::collections::HashMap::new();
        props.insert("x_custom".to_string(), Amf0Value::Utf8String("kept".into()));
        props.insert("duration".to_string(), Amf0Value::Number(0.0));
        let script = rml_amf0::serialize(&vec![
            Amf0Value::Utf8String(ON_META_DATA.into()),
            Amf0Value::Object(props),
        ])
        .unwrap_or_default();
        let mut frame = rml_amf0::serialize(&vec![Amf0Value::Utf8String(SET_DATA_FRAME.into())])
            .unwrap_or_default();
        frame.extend_from_slice(&script);
        assert_eq!(script_body(&frame).as_deref(), Some(&script[..]));
        assert_eq!(script_body(&script).as_deref(), Some(&script[..]));
        assert_eq!(data_frame(&script).as_deref(), Some(&frame[..]));
        let bare = rml_amf0::serialize(&vec![Amf0Value::Utf8String(SET_DATA_FRAME.into())])
            .unwrap_or_default();
        assert_eq!(script_body(&bare), None);
        let no_object = rml_amf0::serialize(&vec![
            Amf0Value::Utf8String(SET_DATA_FRAME.into()),
            Amf0Value::Utf8String(ON_META_DATA.into()),
        ])
        .unwrap_or_default();
        assert_eq!(script_body(&no_object), None);
        assert_eq!(script_body(&[0x02, 0x00]), None);
    }

    #[test]
    fn other_script_tags_and_garbage_are_none() {
        let cue = rml_amf0::serialize(&vec![
            Amf0Value::Utf8String("onCuePoint".into()),
            Amf0Value::Object(Default::default()),
        ])
        .unwrap_or_default();
        assert_eq!(body_to_metadata(&cue), None);
        assert_eq!(body_to_metadata(&[0x02, 0xFF]), None);
        assert_eq!(body_to_metadata(&[]), None);
    }
}
