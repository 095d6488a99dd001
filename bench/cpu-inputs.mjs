// The benchmark's batches, identical for every contender: "BxL" is B rows of L tokens; "varN" is
// N rows with lengths uniform in 8..128 (seeded), which peers pad to the longest row as they do
// for their users, while bertkit computes the real tokens only.
export function makeBatch(shape) {
  let seed = 0x2545f491;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  let lengths;
  const v = /^var(\d+)$/.exec(shape);
  if (v) {
    lengths = Array.from({ length: Number(v[1]) }, () => 8 + Math.floor(rand() * 121));
  } else {
    const [b, l] = shape.split('x').map(Number);
    lengths = Array.from({ length: b }, () => l);
  }
  const size = lengths.length;
  const length = Math.max(...lengths);
  const rows = lengths.map((n) => {
    const row = new Int32Array(n);
    row[0] = 101;
    for (let j = 1; j < n - 1; j++) row[j] = 1000 + Math.floor(rand() * 29000);
    row[n - 1] = 102;
    return row;
  });
  const ids = new BigInt64Array(size * length);
  const mask = new BigInt64Array(size * length);
  const types = new BigInt64Array(size * length);
  rows.forEach((row, b) => {
    for (let j = 0; j < row.length; j++) {
      ids[b * length + j] = BigInt(row[j]);
      mask[b * length + j] = 1n;
    }
  });
  const cuSeqlens = new Int32Array(size + 1);
  lengths.forEach((n, b) => (cuSeqlens[b + 1] = cuSeqlens[b] + n));
  const packedIds = new Int32Array(cuSeqlens[size]);
  rows.forEach((row, b) => packedIds.set(row, cuSeqlens[b]));
  return {
    size,
    length,
    rows,
    realTokens: lengths.reduce((a, b) => a + b, 0),
    padded: { input_ids: ids, attention_mask: mask, token_type_ids: types },
    packed: { inputIds: packedIds, cuSeqlens },
  };
}
