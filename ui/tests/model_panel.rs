//! The model manager panel as a person uses it: each state with its action, the device, dtype and
//! quantization picked before loading (a back-end this build lacks cannot be picked), Reload
//! offered once the pick differs from what the loaded model was loaded with, and saving a
//! quantized copy with its progress and Cancel.

use std::path::PathBuf;

use egui::{Vec2, accesskit::Role};
use egui_kittest::{Harness, kittest::Queryable};
use keye_ui::{
    BuildDevices, DevicePick, DtypePick, LoadChoice, ModelAction, ModelPanel, ModelState,
    ModelSummary, QuantizePick, SaveProgress,
};

type State = (ModelPanel, Vec<ModelAction>);

fn model_harness(panel: ModelPanel) -> Harness<'static, State> {
    Harness::builder()
        .with_size(Vec2::new(420.0, 720.0))
        .build_ui_state(
            |ui, (panel, actions): &mut State| {
                if let Some(action) = panel.ui(ui) {
                    actions.push(action);
                }
            },
            (panel, Vec::new()),
        )
}

fn in_state(state: ModelState) -> Harness<'static, State> {
    model_harness(ModelPanel {
        state,
        ..ModelPanel::default()
    })
}

fn loaded_summary(loaded_with: LoadChoice) -> ModelSummary {
    ModelSummary {
        dir: PathBuf::from("/models/keye"),
        kind: "Keye-VL-1.5-8B".into(),
        video_encoder: "keye15".into(),
        parameters: 8_030_000_000,
        bytes_on_disk: 16 * 1024 * 1024 * 1024,
        weights_bytes: 15 * 1024 * 1024 * 1024,
        device: "cpu".into(),
        dtype: "bf16".into(),
        loaded_with,
        quantization: "none".into(),
        gguf: None,
        free_after_load: Some(6 * 1024 * 1024 * 1024),
    }
}

/// The n-th combo box (device, dtype, quantize).
fn combo<'a>(harness: &'a Harness<'static, State>, index: usize) -> egui_kittest::Node<'a> {
    harness
        .get_all_by_role(Role::ComboBox)
        .nth(index)
        .expect("combo box")
}

fn pick(harness: &mut Harness<'static, State>, combo_index: usize, item: &str) {
    combo(harness, combo_index).click();
    harness.run();
    harness.get_by_label(item).click();
    harness.run();
}

#[test]
fn model_panel_shows_each_state_and_its_action() {
    let mut none = in_state(ModelState::None);
    none.run();
    assert!(
        none.query_by_label_contains("drop a Hugging Face checkpoint folder")
            .is_some()
    );
    none.get_by_label("Open checkpoint folder…").click();
    none.run();
    assert_eq!(none.state().1, [ModelAction::Open]);

    let mut loading = in_state(ModelState::Loading {
        dir: PathBuf::from("/models/keye"),
        stage: "reading weights".into(),
        done: 1,
        total: 4,
    });
    loading.run_steps(2);
    loading.get_by_label("Loading /models/keye");
    loading.get_by_label("Cancel").click();
    loading.run_steps(2);
    assert_eq!(loading.state().1, [ModelAction::CancelLoading]);

    let mut loaded = in_state(ModelState::Loaded(loaded_summary(LoadChoice::default())));
    loaded.run();
    for text in [
        "Keye-VL-1.5-8B",
        "keye15",
        "8.03 B",
        "16.0 GiB",
        "15.0 GiB",
        "6.0 GiB",
        "cpu (auto)",
        "bf16 (auto)",
    ] {
        loaded.get_by_label(text);
    }
    loaded.get_by_label("Weights in memory");
    assert!(
        loaded.query_by_label("Reload").is_none(),
        "nothing to reload with"
    );
    loaded.get_by_label("Unload").click();
    loaded.run();
    assert_eq!(loaded.state().1, [ModelAction::Unload]);

    let mut failed = in_state(ModelState::Failed {
        dir: PathBuf::from("/models/broken"),
        message: "config.json: missing field `vision_config`".into(),
    });
    failed.run();
    failed
        .get_by_label("Could not load /models/broken: config.json: missing field `vision_config`");
}

#[test]
fn device_and_dtype_are_picked_before_opening_a_checkpoint() {
    let mut harness = in_state(ModelState::None);
    harness.run();
    pick(&mut harness, 0, "cpu");
    pick(&mut harness, 1, "bf16");
    harness.get_by_label("Open checkpoint folder…").click();
    harness.run();
    let (panel, actions) = harness.state();
    assert_eq!(
        panel.choice,
        LoadChoice {
            device: DevicePick::Cpu,
            dtype: DtypePick::Bf16,
            ..LoadChoice::default()
        }
    );
    assert_eq!(actions, &[ModelAction::Open]);
}

#[test]
fn a_gpu_back_end_this_build_lacks_cannot_be_picked() {
    let mut cpu_only = in_state(ModelState::None);
    cpu_only.run();
    cpu_only.get_by_label_contains("This build runs on the CPU only");
    pick(&mut cpu_only, 0, "cuda");
    pick(&mut cpu_only, 0, "metal");
    assert_eq!(cpu_only.state().0.choice.device, DevicePick::Auto);

    let mut cuda = model_harness(ModelPanel {
        build: BuildDevices {
            cuda: true,
            metal: false,
        },
        ..ModelPanel::default()
    });
    cuda.run();
    assert!(cuda.query_by_label_contains("CPU only").is_none());
    pick(&mut cuda, 0, "cuda");
    assert_eq!(cuda.state().0.choice.device, DevicePick::Cuda(0));
    // Which GPU: a number beside the device.
    cuda.get_by_role(Role::SpinButton).set_value_accesskit(1.0);
    cuda.run();
    assert_eq!(cuda.state().0.choice.device, DevicePick::Cuda(1));
    assert_eq!(cuda.state().0.choice.device.to_string(), "cuda:1");
}

#[test]
fn reload_is_offered_once_the_pick_differs_from_the_loaded_model() {
    let loaded_with = LoadChoice {
        device: DevicePick::Cpu,
        dtype: DtypePick::F32,
        ..LoadChoice::default()
    };
    let summary = ModelSummary {
        dtype: "f32".into(),
        ..loaded_summary(loaded_with)
    };
    let mut harness = model_harness(ModelPanel {
        state: ModelState::Loaded(summary),
        choice: loaded_with,
        ..ModelPanel::default()
    });
    harness.run();
    assert!(harness.query_by_label("Reload").is_none());
    // Picked explicitly, the actual device and dtype show without "(auto)".
    harness.get_by_label("For the next load:");
    pick(&mut harness, 1, "bf16");
    harness.get_by_label("Reload").click();
    harness.run();
    assert_eq!(harness.state().1, [ModelAction::Reload]);
    assert_eq!(harness.state().0.choice.dtype, DtypePick::Bf16);
}

#[test]
fn a_quantization_is_picked_before_loading_and_a_gguf_file_can_be_opened() {
    let mut harness = in_state(ModelState::None);
    harness.run();
    let vision = "Quantize vision too";
    harness.get_by_label(vision).click();
    harness.run();
    assert!(
        !harness.state().0.choice.quantize_vision,
        "nothing to quantize the vision with yet"
    );
    pick(&mut harness, 2, "q4k");
    harness.get_by_label(vision).click();
    harness.run();
    let choice = harness.state().0.choice;
    assert_eq!(
        (choice.quantize, choice.quantize_vision),
        (QuantizePick::Q4k, true)
    );
    harness.get_by_label("Open .gguf file…").click();
    harness.run();
    assert_eq!(harness.state().1, [ModelAction::OpenFile]);
}

#[test]
fn a_quantized_copy_is_saved_as_picked_with_progress_and_cancel() {
    let mut harness = in_state(ModelState::Loaded(loaded_summary(LoadChoice::default())));
    harness.run();
    harness.get_by_label("Save quantized copy").click();
    harness.run();
    assert!(
        harness.state().1.is_empty(),
        "disabled until a format is picked"
    );
    pick(&mut harness, 2, "q8_0");
    harness.get_by_label("Save quantized copy (q8_0)").click();
    harness.run();
    assert_eq!(harness.state().1.last(), Some(&ModelAction::SaveQuantized));

    harness.state_mut().0.saving = Some(SaveProgress {
        path: PathBuf::from("/models/keye/model-q8_0.gguf"),
        done: 120,
        total: 480,
    });
    harness.run_steps(2);
    harness.get_by_label("Saving /models/keye/model-q8_0.gguf");
    harness.get_by_label("Cancel saving").click();
    harness.run_steps(2);
    assert_eq!(harness.state().1.last(), Some(&ModelAction::CancelSaving));

    // A model read from a saved copy has nothing to save; its file is shown.
    let file = PathBuf::from("/models/keye-q4k.gguf");
    let from_file = ModelSummary {
        dir: file.clone(),
        quantization: "q4k".into(),
        gguf: Some(file),
        ..loaded_summary(LoadChoice::default())
    };
    let mut harness = in_state(ModelState::Loaded(from_file));
    harness.run();
    harness.get_by_label("/models/keye-q4k.gguf");
    harness.get_by_label("q4k");
    assert!(
        harness
            .query_by_label_contains("Save quantized copy")
            .is_none()
    );
}
