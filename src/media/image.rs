//! Image uploads: decoded under limits (a decompression bomb — a small file that claims huge
//! dimensions — is refused before its pixels are allocated), turned upright (JPEG EXIF
//! orientation), and re-encoded from the decoded pixels, so nothing of the original file but
//! its pixels is stored or served: no EXIF, no GPS position, no comments. Also a thumbnail
//! (JPEG, at most `THUMB` pixels a side) and a blurhash placeholder. Runs on the blocking pool.
//!
//! Formats: JPEG (re-encoded as JPEG), PNG, GIF (its first frame) and WebP (lossless).

use std::io::{BufReader, Cursor};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits};

use crate::error::{AppError, AppResult};

/// Widest and tallest image accepted, in pixels.
pub const MAX_SIDE: u32 = 16_384;

/// Most memory one decode may allocate.
pub const MAX_ALLOC: u64 = 256 * 1024 * 1024;

/// Longest side of a thumbnail.
pub const THUMB: u32 = 320;

/// An image as it will be stored.
pub struct Processed {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub thumbnail: Option<Vec<u8>>,
    pub blurhash: Option<String>,
}

/// The formats re-encoded here, by sniffed content type.
pub fn format_of(content_type: &str) -> Option<ImageFormat> {
    match content_type {
        "image/jpeg" => Some(ImageFormat::Jpeg),
        "image/png" => Some(ImageFormat::Png),
        "image/gif" => Some(ImageFormat::Gif),
        "image/webp" => Some(ImageFormat::WebP),
        _ => None,
    }
}

fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

fn refused(e: image::ImageError) -> AppError {
    match e {
        image::ImageError::Limits(_) => AppError::TooLarge,
        image::ImageError::IoError(e) => AppError::Internal(e.into()),
        _ => AppError::invalid("the image could not be decoded"),
    }
}

/// Decodes the image at `path` and re-encodes it without metadata, with its thumbnail and
/// blurhash. `too_large` past the limits, `invalid` when it does not decode.
pub fn process(path: &Path, format: ImageFormat) -> AppResult<Processed> {
    let file = std::fs::File::open(path).map_err(|e| AppError::Internal(e.into()))?;
    let mut reader = ImageReader::with_format(BufReader::new(file), format);
    reader.limits(limits());
    let mut decoder = reader.into_decoder().map_err(refused)?;
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(refused)?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    let (bytes, content_type) = encode(&img, format)?;
    let (width, height) = (img.width(), img.height());
    let thumbnail = if width.max(height) > THUMB {
        Some(jpeg(&img.thumbnail(THUMB, THUMB), 80)?)
    } else {
        None
    };
    let small = img.thumbnail(32, 32).to_rgba8();
    let blurhash = blurhash::encode(4, 3, small.width(), small.height(), small.as_raw()).ok();
    Ok(Processed {
        bytes,
        content_type,
        width,
        height,
        thumbnail,
        blurhash,
    })
}

fn encode(img: &DynamicImage, format: ImageFormat) -> AppResult<(Vec<u8>, &'static str)> {
    let mut out = Cursor::new(Vec::new());
    let content_type = match format {
        ImageFormat::Jpeg => return Ok((jpeg(img, 90)?, "image/jpeg")),
        ImageFormat::Png => {
            img.write_to(&mut out, ImageFormat::Png).map_err(refused)?;
            "image/png"
        }
        ImageFormat::Gif => {
            DynamicImage::ImageRgba8(img.to_rgba8())
                .write_to(&mut out, ImageFormat::Gif)
                .map_err(refused)?;
            "image/gif"
        }
        _ => {
            // The WebP encoder takes 8-bit RGB(A) and writes lossless WebP.
            let img = if img.color().has_alpha() {
                DynamicImage::ImageRgba8(img.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(img.to_rgb8())
            };
            img.write_to(&mut out, ImageFormat::WebP).map_err(refused)?;
            "image/webp"
        }
    };
    Ok((out.into_inner(), content_type))
}

fn jpeg(img: &DynamicImage, quality: u8) -> AppResult<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(&DynamicImage::ImageRgb8(img.to_rgb8()))
        .map_err(refused)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_of(bytes: &[u8]) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), bytes).unwrap();
        f
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        }));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn an_image_is_re_encoded_with_a_thumbnail_and_a_blurhash() {
        let f = file_of(&png(800, 400));
        let p = process(f.path(), ImageFormat::Png).unwrap();
        assert_eq!((p.width, p.height, p.content_type), (800, 400, "image/png"));
        let thumb = image::load_from_memory(p.thumbnail.as_ref().unwrap()).unwrap();
        assert_eq!((thumb.width(), thumb.height()), (THUMB, THUMB / 2));
        assert!(p.blurhash.unwrap().len() >= 6);
        let small = file_of(&png(40, 30));
        assert!(
            process(small.path(), ImageFormat::Png)
                .unwrap()
                .thumbnail
                .is_none()
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_decoding() {
        // A valid PNG header claiming 100,000 × 100,000 pixels, and nothing behind it.
        let mut bomb = png(1, 1);
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32fast::hash(&bomb[12..29]); // a PNG chunk's CRC: its type and data
        bomb[29..33].copy_from_slice(&crc.to_be_bytes());
        let f = file_of(&bomb);
        let err = process(f.path(), ImageFormat::Png).err().expect("refused");
        assert_eq!(err.code(), "too_large");
    }

    #[test]
    fn garbage_that_claims_to_be_an_image_is_invalid() {
        let f = file_of(b"\xff\xd8\xff\xe0 not really a jpeg");
        let err = process(f.path(), ImageFormat::Jpeg).err().expect("refused");
        assert_eq!(err.code(), "invalid");
    }
}
