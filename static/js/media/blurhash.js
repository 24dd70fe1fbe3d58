// BlurHash decoding (https://blurha.sh, the algorithm by Dag Ågren / Wolt, MIT): a ~30-character
// string of a few DCT components in base 83, which the server computes for every image it
// re-encodes (docs/protocol.md §15). The page paints it while the real image loads.

const DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~';

function decode83(str) {
  let value = 0;
  for (const ch of str) {
    const digit = DIGITS.indexOf(ch);
    if (digit < 0) throw new Error('blurhash: bad character');
    value = value * 83 + digit;
  }
  return value;
}

function srgbToLinear(v) {
  const x = v / 255;
  return x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
}

function linearToSrgb(v) {
  const x = Math.max(0, Math.min(1, v));
  return x <= 0.0031308 ? Math.round(x * 12.92 * 255 + 0.5) : Math.round((1.055 * x ** (1 / 2.4) - 0.055) * 255 + 0.5);
}

const signPow = (v, exp) => Math.sign(v) * Math.abs(v) ** exp;

/** Whether `hash` is a well-formed BlurHash. */
export function isBlurhash(hash) {
  if (typeof hash !== 'string' || hash.length < 6) return false;
  try {
    const size = decode83(hash[0]);
    return hash.length === 4 + 2 * ((size % 9) + 1) * (Math.floor(size / 9) + 1) && (decode83(hash), true);
  } catch {
    return false;
  }
}

/**
 * Decodes `hash` to `width` × `height` RGBA pixels (for `ImageData`); `punch` raises contrast.
 * Throws on a malformed hash (check with `isBlurhash`).
 */
export function decodeBlurhash(hash, width, height, punch = 1) {
  if (!isBlurhash(hash)) throw new Error('blurhash: malformed');
  const size = decode83(hash[0]);
  const numX = (size % 9) + 1;
  const numY = Math.floor(size / 9) + 1;
  const maxValue = (decode83(hash[1]) + 1) / 166;
  const colors = new Array(numX * numY);
  const dc = decode83(hash.substring(2, 6));
  colors[0] = [srgbToLinear(dc >> 16), srgbToLinear((dc >> 8) & 255), srgbToLinear(dc & 255)];
  for (let i = 1; i < colors.length; i++) {
    const ac = decode83(hash.substring(4 + i * 2, 6 + i * 2));
    const q = [Math.floor(ac / (19 * 19)), Math.floor(ac / 19) % 19, ac % 19];
    colors[i] = q.map((c) => signPow((c - 9) / 9, 2) * maxValue * punch);
  }
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let j = 0; j < numY; j++) {
        const by = Math.cos((Math.PI * y * j) / height);
        for (let i = 0; i < numX; i++) {
          const basis = Math.cos((Math.PI * x * i) / width) * by;
          const c = colors[i + j * numX];
          r += c[0] * basis;
          g += c[1] * basis;
          b += c[2] * basis;
        }
      }
      const p = 4 * (x + y * width);
      pixels[p] = linearToSrgb(r);
      pixels[p + 1] = linearToSrgb(g);
      pixels[p + 2] = linearToSrgb(b);
      pixels[p + 3] = 255;
    }
  }
  return pixels;
}

const urls = new Map();

/**
 * A small PNG `data:` URL of the placeholder, `width` × `height` pixels (keep them small: the
 * browser scales it up, smoothly). Cached by hash and size. A missing or malformed hash gives a
 * plain grey one, so that the page can always reserve the image's box with it.
 */
export function blurhashDataUrl(hash, width = 32, height = 32) {
  const key = `${hash}:${width}x${height}`;
  let url = urls.get(key);
  if (url) return url;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (isBlurhash(hash)) ctx.putImageData(new ImageData(decodeBlurhash(hash, width, height), width, height), 0, 0);
  else {
    ctx.fillStyle = '#8884';
    ctx.fillRect(0, 0, width, height);
  }
  url = canvas.toDataURL('image/png');
  if (urls.size > 500) urls.clear();
  urls.set(key, url);
  return url;
}
