//! Triggers (fgs-api.md §6). They belong to a function qualifier: an unqualified URN means
//! `latest`. Lists are bare JSON arrays.

use serde_json::{Map, Value};

use super::{boxed, optional, seg, ApiError, Call, Client, Kind, Lookup};
use crate::api::types::{CreateTriggerRequest, Trigger, UpdateTriggerRequest};

/// Decides whether an existing trigger is the one a create sent: same type, and every
/// `event_data` field that was sent has the same value. Same type and `name` but other
/// fields ⇒ a conflict; anything else ⇒ not this one.
pub fn classify(sent: &CreateTriggerRequest, found: &Trigger) -> Option<Result<(), String>> {
    if found.trigger_type_code != sent.trigger_type_code {
        return None;
    }
    let same_fields = |a: &Map<String, Value>, b: &Map<String, Value>| a.iter().all(|(k, v)| b.get(k) == Some(v));
    let name = sent.event_data.get("name");
    let same_name = name.is_some() && found.event_data.get("name") == name;
    if same_fields(&sent.event_data, &found.event_data) {
        Some(Ok(()))
    } else if same_name {
        let diff: Vec<&str> = sent
            .event_data
            .iter()
            .filter(|(k, v)| found.event_data.get(*k) != Some(v))
            .map(|(k, _)| k.as_str())
            .collect();
        Some(Err(format!("event_data differs in {}", diff.join(", "))))
    } else {
        None
    }
}

impl Client {
    /// `POST /fgs/triggers/{urn}` → 201. After a lost answer the function's triggers are
    /// listed and one of the same type and `event_data` (e.g. the TIMER name) is adopted.
    pub async fn create_trigger(&self, urn: &str, body: &CreateTriggerRequest) -> Result<Trigger, ApiError> {
        let path = format!("/fgs/triggers/{}", seg(urn));
        let path = path.as_str();
        let label = body
            .event_data
            .get("name")
            .and_then(Value::as_str)
            .map(|n| format!("{} {n}", body.trigger_type_code))
            .unwrap_or_else(|| body.trigger_type_code.clone());
        self.create_adopting(
            "trigger",
            &label,
            || {
                boxed(async move {
                    self.json(Call::with_body("POST", path.to_string(), body, Kind::Create))
                        .await
                })
            },
            || {
                boxed(async move {
                    for t in self.list_triggers(urn).await? {
                        match classify(body, &t) {
                            Some(Ok(())) => return Ok(Lookup::Found(t)),
                            Some(Err(diff)) => return Ok(Lookup::Conflict(diff)),
                            None => {}
                        }
                    }
                    Ok(Lookup::Absent)
                })
            },
        )
        .await
    }

    /// `GET /fgs/triggers/{urn}` (every trigger of that qualifier).
    pub async fn list_triggers(&self, urn: &str) -> Result<Vec<Trigger>, ApiError> {
        self.json(Call::get(format!("/fgs/triggers/{}", seg(urn)))).await
    }

    /// [`Client::list_triggers`], with 404 (a function or alias that does not exist, or not
    /// yet) as no triggers.
    pub async fn list_triggers_or_none(&self, urn: &str) -> Result<Vec<Trigger>, ApiError> {
        Ok(optional(self.list_triggers(urn).await)?.unwrap_or_default())
    }

    /// `GET /fgs/triggers/{urn}/{type}/{id}`.
    pub async fn show_trigger(&self, urn: &str, type_code: &str, id: &str) -> Result<Trigger, ApiError> {
        self.json(Call::get(trigger_path(urn, type_code, id))).await
    }

    /// Like [`Client::show_trigger`], with 404 as `None`.
    pub async fn show_trigger_opt(&self, urn: &str, type_code: &str, id: &str) -> Result<Option<Trigger>, ApiError> {
        optional(self.show_trigger(urn, type_code, id).await)
    }

    /// `PUT /fgs/triggers/{urn}/{type}/{id}` (status in place; the object body form).
    pub async fn update_trigger(
        &self,
        urn: &str,
        type_code: &str,
        id: &str,
        body: &UpdateTriggerRequest,
    ) -> Result<Trigger, ApiError> {
        self.json(Call::with_body(
            "PUT",
            trigger_path(urn, type_code, id),
            body,
            Kind::Write,
        ))
        .await
    }

    /// `DELETE /fgs/triggers/{urn}/{type}/{id}`.
    pub async fn delete_trigger(&self, urn: &str, type_code: &str, id: &str) -> Result<(), ApiError> {
        self.unit(Call::delete(trigger_path(urn, type_code, id))).await
    }

    /// `DELETE /fgs/triggers/{urn}`: every trigger of the qualifier (all of them for an
    /// unqualified or `latest` URN).
    pub async fn delete_all_triggers(&self, urn: &str) -> Result<(), ApiError> {
        self.unit(Call::delete(format!("/fgs/triggers/{}", seg(urn)))).await
    }
}

fn trigger_path(urn: &str, type_code: &str, id: &str) -> String {
    format!("/fgs/triggers/{}/{}/{}", seg(urn), seg(type_code), seg(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn timer(name: &str, schedule: &str) -> Map<String, Value> {
        json!({"name": name, "schedule_type": "Rate", "schedule": schedule})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn classify_by_type_and_event_data() {
        let sent = CreateTriggerRequest {
            trigger_type_code: "TIMER".into(),
            event_data: timer("tick", "1d"),
            ..Default::default()
        };
        let mut found = Trigger {
            trigger_type_code: "TIMER".into(),
            event_data: timer("tick", "1d"),
            ..Default::default()
        };
        found.event_data.insert("server_added".into(), json!(1));
        assert_eq!(classify(&sent, &found), Some(Ok(())));
        found.event_data = timer("tick", "3m");
        assert!(matches!(classify(&sent, &found), Some(Err(_))));
        found.event_data = timer("other", "1d");
        assert_eq!(classify(&sent, &found), None);
        found.trigger_type_code = "OBS".into();
        assert_eq!(classify(&sent, &found), None);
    }
}
