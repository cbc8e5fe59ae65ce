//! "Connect to a server" in the model manager: the app asks an OpenAI-compatible server
//! (`keye-studio serve`, or vLLM serving Keye-VL) instead of a local model. Connecting asks the
//! server for its models on a worker (never the UI thread), so a wrong address, a missing API key
//! or an unknown model is told at once, before the first question.

use crossbeam_channel::Receiver;
use keye_ui::{ServerForm, ServerSummary};

use crate::remote::RemoteServer;

/// A server that answers the app's questions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub server: RemoteServer,
    /// The address as the user gave it.
    pub url: String,
    /// The served model asked.
    pub model: String,
}

impl Connection {
    pub fn summary(&self) -> ServerSummary {
        ServerSummary {
            url: self.url.clone(),
            model: self.model.clone(),
        }
    }
}

/// A connection being checked on a worker.
pub struct Connecting {
    pub url: String,
    outcome: Receiver<Result<Connection, String>>,
}

impl Connecting {
    /// Checks the server of `form` on a worker: it must answer `GET /v1/models` (with the API
    /// key) and serve the model named, or any model when none is named.
    pub fn start(form: &ServerForm) -> Self {
        let url = form.url.trim().to_owned();
        let api_key = Some(form.api_key.trim().to_owned()).filter(|k| !k.is_empty());
        let wanted = Some(form.model.trim().to_owned()).filter(|m| !m.is_empty());
        let (sender, outcome) = crossbeam_channel::bounded(1);
        let address = url.clone();
        std::thread::spawn(move || {
            let _ = sender.send(check(&address, api_key, wanted));
        });
        Self { url, outcome }
    }

    /// The outcome, once the worker has it.
    pub fn poll(&self) -> Option<Result<Connection, String>> {
        match self.outcome.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(crossbeam_channel::TryRecvError::Empty) => None,
            Err(crossbeam_channel::TryRecvError::Disconnected) => Some(Err(
                "the connection check stopped without an answer".to_owned(),
            )),
        }
    }
}

fn check(url: &str, api_key: Option<String>, wanted: Option<String>) -> Result<Connection, String> {
    let server = RemoteServer::new(url, api_key).map_err(|e| e.to_string())?;
    let models = server.models().map_err(|e| e.to_string())?;
    let model = match wanted {
        Some(name) if models.contains(&name) => name,
        Some(name) => {
            return Err(format!(
                "{url} does not serve {name:?} (it serves {})",
                if models.is_empty() {
                    "no model".to_owned()
                } else {
                    models.join(", ")
                }
            ));
        }
        None => models
            .into_iter()
            .next()
            .ok_or_else(|| format!("{url} serves no model"))?,
    };
    Ok(Connection {
        server,
        url: url.to_owned(),
        model,
    })
}

#[cfg(test)]
pub(in crate::gui) mod tests {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use eframe::egui;
    use egui_kittest::kittest::Queryable;
    use keye_ui::{ModelState, REMOTE_ATTENTION_NOTE, Toasts};

    use super::super::model::ModelManager;
    use crate::inference::LoadedModel;
    use crate::serve::{ServeOptions, Server};

    /// The tiny checkpoint served on an ephemeral loopback port.
    pub(in crate::gui) fn tiny_server(options: ServeOptions) -> (Arc<LoadedModel>, Server) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/keye-1.5-tiny");
        let model = Arc::new(LoadedModel::load(&dir, Default::default(), None, None).unwrap());
        let server = Server::start(model.clone(), "127.0.0.1:0".parse().unwrap(), options);
        (model, server.expect("the server starts"))
    }

    type Bench = (ModelManager, Toasts);

    /// The model manager's panel as the app draws it, its actions handled and the manager polled.
    fn manager_harness() -> egui_kittest::Harness<'static, Bench> {
        egui_kittest::Harness::builder()
            .with_size(egui::Vec2::new(420.0, 700.0))
            .build_ui_state(
                |ui, (manager, toasts): &mut Bench| {
                    if let Some(action) = manager.panel.ui(ui) {
                        manager.handle(action);
                    }
                    manager.poll(ui.ctx(), toasts);
                },
                (ModelManager::default(), Toasts::default()),
            )
    }

    fn connect(harness: &mut egui_kittest::Harness<'static, Bench>, url: &str, key: &str) {
        if harness.query_by_label("Connect").is_none() {
            harness.get_by_label("Connect to a server").click();
            harness.step();
        }
        harness.state_mut().0.panel.server.url = url.to_owned();
        harness.state_mut().0.panel.server.api_key = key.to_owned();
        harness.step();
        harness.get_by_label("Connect").click();
        harness.step();
        let started = Instant::now();
        while harness.state().0.is_loading() {
            assert!(started.elapsed() < Duration::from_secs(30), "no answer");
            std::thread::sleep(Duration::from_millis(20));
            harness.step();
        }
        harness.step();
    }

    #[test]
    fn connect_to_a_server_in_the_model_manager_then_disconnect() {
        let (_model, server) = tiny_server(ServeOptions::new("tiny"));
        let url = format!("http://{}", server.local_addr());
        let mut harness = manager_harness();
        harness.step();
        connect(&mut harness, &url, "");
        let (manager, toasts) = harness.state();
        assert!(
            matches!(&manager.panel.state, ModelState::Connected(s) if s.model == "tiny"),
            "{:?}",
            manager.panel.state
        );
        assert_eq!(
            toasts.items().len(),
            1,
            "one info toast: {:?}",
            toasts.items()
        );
        harness.get_by_label("Disconnect");
        harness.get_by_label(REMOTE_ATTENTION_NOTE);
        assert!(harness.state().0.connection().is_some());

        // Disconnecting leaves no model: the panel says how to get one.
        harness.get_by_label("Disconnect").click();
        harness.step();
        assert!(harness.state().0.connection().is_none());
        assert_eq!(harness.state().0.panel.state, ModelState::None);
    }

    #[test]
    fn a_server_that_refuses_the_key_is_told_and_nothing_changes() {
        let options = ServeOptions {
            api_key: Some("sesame".into()),
            ..ServeOptions::new("tiny")
        };
        let (_model, server) = tiny_server(options);
        let url = format!("http://{}", server.local_addr());
        let mut harness = manager_harness();
        harness.step();
        connect(&mut harness, &url, "wrong");
        let (manager, toasts) = harness.state();
        assert!(manager.connection().is_none());
        assert_eq!(manager.panel.state, ModelState::None);
        let error = &toasts.items()[0].text;
        assert!(
            error.contains("Could not connect") && error.contains("401"),
            "{error}"
        );

        connect(&mut harness, &url, "sesame");
        assert!(harness.state().0.connection().is_some());
    }
}
