//! Long prompts never materialise an (S x S) attention tensor: a global allocator records the
//! largest single allocation while a random model with small attention blocks runs a prompt of
//! thousands of tokens (and an image whose vision block has a thousand patches), and that
//! allocation must stay far below S x S elements. Before block-wise attention, the decoder's score
//! tensor alone was heads x S x S floats.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::{
        Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use keye_model::{
    DType, Device,
    attention::AttentionBlocks,
    bench::{BenchSize, bench_inputs, random_model},
    keye::{DecodeState, Prefill},
};

/// The system allocator, noting the largest allocation made while `WATCHING` is set.
struct LargestAllocation;

static WATCHING: AtomicBool = AtomicBool::new(false);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHING.load(Ordering::Relaxed) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// Tests in this binary share the counter: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Largest allocation in bytes while `f` runs.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    WATCHING.store(true, Ordering::Relaxed);
    f();
    WATCHING.store(false, Ordering::Relaxed);
    LARGEST.load(Ordering::Relaxed)
}

#[test]
fn a_prompt_of_thousands_of_tokens_allocates_nothing_quadratic() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = BenchSize::Tiny.config().unwrap();
    let mut model = random_model(&config, DType::F32, &Device::Cpu).unwrap();
    model.set_attention_blocks(AttentionBlocks::new(32, 64));
    model.set_prefill_chunk(128);
    // 4,000 text tokens around an 896 px image: 4,096 patches in one vision block.
    let inputs = bench_inputs(&model, 4000, Some(896)).unwrap();
    let s = inputs.input_ids.len();
    let patches = 64 * 64;
    assert!(s > 4000);
    let largest = largest_allocation(|| {
        let mut state = DecodeState::default();
        let out = model
            .prefill(
                &inputs,
                &mut state,
                Prefill {
                    lean: true,
                    ..Prefill::default()
                },
            )
            .unwrap();
        assert_eq!(out.hidden.dims(), &[1, 1, config.text.hidden_size]);
        model.decode_step(10, &mut state).unwrap();
    });
    // One (S x S) f32 tensor of a single head would be 4 S^2 bytes; the vision block's would be
    // 4 N^2. Everything allocated (the largest is the matrix multiply's own packing buffer, a
    // constant 2 MiB) must be far smaller than either.
    assert!(
        largest < s * s / 4 && largest < patches * patches / 4,
        "largest allocation {largest} bytes for a prompt of {s} tokens"
    );
}

#[test]
fn the_check_can_fail_when_blocks_cover_the_whole_prompt() {
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let config = BenchSize::Tiny.config().unwrap();
    let mut model = random_model(&config, DType::F32, &Device::Cpu).unwrap();
    // One block over everything is exactly the quadratic computation the first test rules out.
    model.set_attention_blocks(AttentionBlocks::new(1 << 20, 1 << 20));
    model.set_prefill_chunk(1 << 20);
    let inputs = bench_inputs(&model, 4000, None).unwrap();
    let s = inputs.input_ids.len();
    let largest = largest_allocation(|| {
        model.forward(&inputs, &mut DecodeState::default()).unwrap();
    });
    assert!(largest >= s * s * 4, "largest allocation {largest} bytes");
}
