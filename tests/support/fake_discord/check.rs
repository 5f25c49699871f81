//! Checks that what the fake sent is what serenity can read.
//!
//! serenity's `Event` enum ends in `#[serde(untagged)] Unknown(UnknownEvent)`: a known dispatch
//! (MESSAGE_CREATE, INTERACTION_CREATE, ...) whose payload does not deserialise does NOT fail;
//! it silently becomes `Event::Unknown`, is logged at DEBUG ("An unknown event was received")
//! and never reaches the `EventHandler`. So every frame is checked here against serenity's
//! concrete model type, to get the serde error that serenity throws away.

use serde::de::DeserializeOwned;
use serde_json::Value;
use serenity::model::event::{
    ChannelCreateEvent, Event, GatewayEvent, GuildCreateEvent, GuildRoleCreateEvent, InteractionCreateEvent,
    MessageCreateEvent, MessageDeleteEvent, MessageUpdateEvent, ReadyEvent, ResumedEvent, ThreadCreateEvent,
};

fn try_as<T: DeserializeOwned>(d: &Value) -> Result<(), String> {
    serde_json::from_value::<T>(d.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Why serenity cannot read this gateway frame, or `None` if it can.
pub(crate) fn frame_problem(frame: &Value) -> Option<String> {
    let t = frame["t"].as_str().unwrap_or("");
    let d = &frame["d"];
    let specific = match t {
        "READY" => try_as::<ReadyEvent>(d),
        "RESUMED" => try_as::<ResumedEvent>(d),
        "GUILD_CREATE" => try_as::<GuildCreateEvent>(d),
        "CHANNEL_CREATE" => try_as::<ChannelCreateEvent>(d),
        "GUILD_ROLE_CREATE" => try_as::<GuildRoleCreateEvent>(d),
        "MESSAGE_CREATE" => try_as::<MessageCreateEvent>(d),
        "MESSAGE_UPDATE" => try_as::<MessageUpdateEvent>(d),
        "MESSAGE_DELETE" => try_as::<MessageDeleteEvent>(d),
        "THREAD_CREATE" => try_as::<ThreadCreateEvent>(d),
        "INTERACTION_CREATE" => try_as::<InteractionCreateEvent>(d),
        _ => Ok(()),
    };
    if let Err(e) = specific {
        return Some(format!("{t}: {e}"));
    }
    match serde_json::from_value::<GatewayEvent>(frame.clone()) {
        Err(e) => Some(format!("op {}: {e}", frame["op"])),
        Ok(GatewayEvent::Dispatch(_, Event::Unknown(_))) => {
            Some(format!("{t}: serenity reads it as Event::Unknown"))
        }
        Ok(_) => None,
    }
}
