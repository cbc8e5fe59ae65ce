//! Keye-VL and Mavors on candle.
