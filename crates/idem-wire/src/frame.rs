//! Kafka framing: a big-endian `i32` size, then that many bytes.
//!
//! The size is checked against a maximum before anything is allocated for the body, the way
//! Kafka checks `socket.request.max.bytes`. A size that cannot hold a request header is refused
//! as well: such a frame can only be garbage.

/// Kafka's default `socket.request.max.bytes`: 100 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 100 * 1024 * 1024;

/// The smallest request body: api key (2), api version (2), correlation id (4).
pub const MIN_REQUEST_BYTES: usize = 8;

/// Why a frame size was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {0}")]
    Negative(i32),
    /// Too small to hold a request header.
    #[error("frame of {0} bytes cannot hold a request header")]
    TooSmall(i32),
    /// Larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The size the peer announced.
        size: usize,
        /// The limit.
        max: usize,
    },
}

/// Reads the size prefix of a request frame and checks it against `max`.
pub fn request_size(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    checked_size(prefix, MIN_REQUEST_BYTES, max)
}

/// Reads the size prefix of a response frame (a client reading a broker) against `max`.
/// A response holds at least its correlation id.
pub fn response_size(prefix: [u8; 4], max: usize) -> Result<usize, FrameError> {
    checked_size(prefix, 4, max)
}

fn checked_size(prefix: [u8; 4], min: usize, max: usize) -> Result<usize, FrameError> {
    let size = i32::from_be_bytes(prefix);
    if size < 0 {
        return Err(FrameError::Negative(size));
    }
    if (size as usize) < min {
        return Err(FrameError::TooSmall(size));
    }
    if size as usize > max {
        return Err(FrameError::TooLarge {
            size: size as usize,
            max,
        });
    }
    Ok(size as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_before_allocation() {
        let max = 1000;
        assert_eq!(
            request_size((-1i32).to_be_bytes(), max),
            Err(FrameError::Negative(-1))
        );
        assert_eq!(
            request_size(0i32.to_be_bytes(), max),
            Err(FrameError::TooSmall(0))
        );
        assert_eq!(
            request_size(i32::MAX.to_be_bytes(), max),
            Err(FrameError::TooLarge {
                size: i32::MAX as usize,
                max
            })
        );
        assert_eq!(request_size(1000i32.to_be_bytes(), max), Ok(1000));
        assert_eq!(request_size(8i32.to_be_bytes(), max), Ok(8));
    }
}
