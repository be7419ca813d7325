import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeNpy } from "../../src/data/npy.ts";
import { openNpz } from "../../src/data/npz.ts";
import { RowReader } from "../../src/data/rows.ts";
import { buildZip, codeOf, concat, tempDir } from "./helpers.ts";

const dir = tempDir();
const x = Float32Array.from({ length: 4 * 3 }, (_, i) => i * 0.25 - 1);
const ids = BigInt64Array.from({ length: 4 * 2 }, (_, i) => BigInt(i * 1000 - 3));
const xNpy = concat(encodeNpy(x, [4, 3]));
const idsNpy = concat(encodeNpy(ids, [4, 2], { fortran: true }));

function zipFile(name: string, bytes: Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** np.savez(f, image=np.arange(6, dtype='<f4').reshape(2,3), ids=np.asfortranarray(np.arange(6).reshape(2,3))) — numpy 2.4. */
const NUMPY_SAVEZ =
  "UEsDBC0AAAAAAAAAIQBP6QAq//////////8JABQAaW1hZ2UubnB5AQAQAJgAAAAAAAAAmAAAAAAAAACTTlVNUFkBAHYAeydkZXNjcic6ICc8ZjQnLCAnZm9ydHJhbl9vcmRlcic6IEZhbHNlLCAnc2hhcGUnOiAoMiwgMyksIH0gICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgCgAAAAAAAIA/AAAAQAAAQEAAAIBAAACgQFBLAwQtAAAAAAAAACEA9zt4FP//////////BwAUAGlkcy5ucHkBABAAsAAAAAAAAACwAAAAAAAAAJNOVU1QWQEAdgB7J2Rlc2NyJzogJzxpOCcsICdmb3J0cmFuX29yZGVyJzogVHJ1ZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAKAAAAAAAAAAADAAAAAAAAAAEAAAAAAAAABAAAAAAAAAACAAAAAAAAAAUAAAAAAAAAUEsBAi0DLQAAAAAAAAAhAE/pACqYAAAAmAAAAAkAAAAAAAAAAAAAAIABAAAAAGltYWdlLm5weVBLAQItAy0AAAAAAAAAIQD3O3gUsAAAALAAAAAHAAAAAAAAAAAAAACAAdMAAABpZHMubnB5UEsFBgAAAAACAAIAbAAAALwBAAAAAA==";
/** np.savez_compressed(f, np.arange(6, dtype='>f8').reshape(2,3) * 1.5) — numpy 2.4. */
const NUMPY_COMPRESSED =
  "UEsDBC0AAAAIAAAAIQBUXm85//////////8JABQAYXJyXzAubnB5AQAQALAAAAAAAAAAVwAAAAAAAACb7BfqGxDJyFDGUK2eklqcXKRupaBuk2ahrqOgnpZfVFKUmBefX5SSChJ3S8wpTgWKF2ckFqQC+RpGOgrGmjoKtQpkAy4GFPDDHkJzOEBoISgtAaXlHABQSwECLQMtAAAACAAAACEAVF5vOVcAAACwAAAACQAAAAAAAAAAAAAAgAEAAAAAYXJyXzAubnB5UEsFBgAAAAABAAEANwAAAJIAAAAAAA==";

describe("npz", () => {
  test("archives numpy wrote: savez (stored, zip64 local headers) and savez_compressed (deflated, big-endian)", () => {
    const r = new RowReader();
    const s = openNpz(zipFile("numpy-s.npz", Buffer.from(NUMPY_SAVEZ, "base64")));
    expect(s.names).toEqual(["image", "ids"]);
    expect(Array.from(new Float32Array(r.read(s.array("image"), 0, 2).slice().buffer))).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(new BigInt64Array(r.read(s.array("ids"), 1, 1).slice().buffer), Number)).toEqual([3, 4, 5]);
    s.close();
    const c = openNpz(zipFile("numpy-c.npz", Buffer.from(NUMPY_COMPRESSED, "base64")));
    expect(c.names).toEqual(["arr_0"]);
    expect(Array.from(new Float64Array(r.read(c.array("arr_0"), 1, 1).slice().buffer))).toEqual([4.5, 6, 7.5]);
    c.close();
  });

  for (const deflate of [false, true]) {
    for (const zip64Local of [false, true]) {
      test(`${deflate ? "deflated" : "stored"} members${zip64Local ? " with numpy's zip64 local headers" : ""}, read by name`, () => {
        const p = zipFile("a.npz", buildZip([{ name: "x.npy", data: xNpy, deflate }, { name: "input_ids.npy", data: idsNpy, deflate }], { zip64Local, comment: "zip comment" }));
        const z = openNpz(p);
        expect(z.names).toEqual(["x", "input_ids"]);
        const r = new RowReader();
        const ax = z.array("x");
        expect(ax.shape).toEqual([4, 3]);
        expect(Array.from(new Float32Array(r.read(ax, 1, 2).slice().buffer))).toEqual(Array.from(x.subarray(3, 9)));
        const ai = z.array("input_ids");
        expect(ai.fortran).toBe(true);
        expect(Array.from(new BigInt64Array(r.read(ai, 2, 2).slice().buffer), Number)).toEqual([3997, 4997, 5997, 6997]);
        expect(codeOf(() => z.array("y"))).toBe("E_DATA_FORMAT");
        z.close();
      });
    }
  }

  test("corrupt and unsupported archives → E_DATA_FORMAT with the file name; missing → E_DATA_READ", () => {
    expect(codeOf(() => openNpz(join(dir, "missing.npz")))).toBe("E_DATA_READ");
    expect(codeOf(() => openNpz(zipFile("junk.npz", new TextEncoder().encode("this is not a zip file, just some text"))))).toBe("E_DATA_FORMAT");
    const good = buildZip([{ name: "x.npy", data: xNpy, deflate: true }]);
    // Cut the archive: the EOCD is gone.
    expect(codeOf(() => openNpz(zipFile("cut.npz", good.subarray(0, good.length - 10))))).toBe("E_DATA_FORMAT");
    // Flip a byte inside the deflated data: inflate or CRC check fails on use.
    const bad = good.slice();
    bad[30 + 5 + 10]! ^= 0xff;
    const z = openNpz(zipFile("crc.npz", bad));
    expect(() => z.array("x")).toThrow(/crc\.npz member x\.npy is corrupt/);
    z.close();
    // zip64 sizes in the central directory.
    const z64 = good.slice();
    const cd = z64.length - 22 - (46 + 5);
    new DataView(z64.buffer).setUint32(cd + 20, 0xffffffff, true);
    expect(() => openNpz(zipFile("z64.npz", z64))).toThrow(/zip64/);
    // Unsupported compression method (bzip2 = 12).
    const bz = buildZip([{ name: "x.npy", data: xNpy }]);
    new DataView(bz.buffer).setUint16(bz.length - 22 - 51 + 10, 12, true);
    expect(codeOf(() => openNpz(zipFile("bz.npz", bz)))).toBe("E_DATA_FORMAT");
    // A member that is not a .npy.
    const notNpy = openNpz(zipFile("txt.npz", buildZip([{ name: "x.npy", data: new TextEncoder().encode("hello") }])));
    expect(codeOf(() => notNpy.array("x"))).toBe("E_DATA_FORMAT");
    notNpy.close();
  });
});
