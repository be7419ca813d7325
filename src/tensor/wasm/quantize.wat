;; WASM SIMD kernels behind weight quantization (src/tensor/wasm-kernels.ts drives them). Hand-written: assembled by
;; `bun run build:wasm` (src/tensor/wasm/build.ts, the npm `wabt` assembler) into quantize-wasm.ts; a test checks that
;; the committed module is exactly what this file assembles to.
;;
;; Semantics are bit for bit those of the JavaScript kernels in kernels.ts (ONNX QuantizeLinear):
;;   q = clamp(round_half_even(fp32(x / s)), qmin − z, qmax − z) + z
;; - fp32(x / s): f32x4.div is IEEE division, correctly rounded (the JS kernels get the same bits from x · (1/s) in double).
;; - round half to even: f32x4.nearest.
;; - the clamp is pmin(pmax(v, lo), hi) (pmax(a, b) = `a < b ? b : a`), so a NaN stays NaN through it and truncates to 0: a NaN quantizes to
;;   z, as `NaN | 0` does in JS. ±Inf saturate to the ends.
;; - storage is one byte per value for int8/uint8/int4/uint4: the code minus `off` (0 signed, 128 unsigned) is narrowed
;;   with signed saturation (exact: it is in [−128, 127]) and its top bit flipped back (`flip` = 0 or 0x80 per byte).
;; Min/max: `acc = v < acc ? v : acc` (f32x4.pmin / pmax), exactly the JS comparisons, and Σ v·0 per lane, which is NaN
;; iff some value is NaN or ±Inf. Lanes of one group are combined in order; only which of −0 / +0 wins a tie between
;; equal minima can differ from the sequential JS loop, and no quantization parameter depends on the sign of a zero range end.
;;
;; Layouts (all pointers are byte offsets into this module's memory, filled by the driver):
;; - rows: `nrows` rows of `cols` contiguous values, row r has its own scale s[r] (f32) and zero point z[r] (i32);
;; - cols: `nblk` blocks of `rows` × `cols` contiguous values, value (k, r, i) uses s[k·cols + i], z[k·cols + i].
(module
  (memory (export "memory") 12)

  ;; ---------------------------------------------------------------- quantize, one scale per row
  (func (export "quant_rows")
    (param $x i32) (param $o i32) (param $s i32) (param $z i32) (param $nrows i32) (param $cols i32)
    (param $qmin f32) (param $qmax f32) (param $off i32)
    (local $r i32) (local $end i32) (local $end4 i32) (local $end16 i32)
    (local $sc f32) (local $zi i32) (local $lo f32) (local $hi f32) (local $v f32)
    (local $sv v128) (local $zv v128) (local $lov v128) (local $hiv v128) (local $flip v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $flip (i8x16.splat (local.get $off)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $nrows)))
        (local.set $sc (f32.load (local.get $s)))
        (local.set $zi (i32.load (local.get $z)))
        (local.set $lo (f32.sub (local.get $qmin) (f32.convert_i32_s (local.get $zi))))
        (local.set $hi (f32.sub (local.get $qmax) (f32.convert_i32_s (local.get $zi))))
        (local.set $sv (f32x4.splat (local.get $sc)))
        (local.set $zv (i32x4.splat (i32.sub (local.get $zi) (local.get $off))))
        (local.set $lov (f32x4.splat (local.get $lo)))
        (local.set $hiv (f32x4.splat (local.get $hi)))
        ;; end of the row in x (4 bytes a value), and of its 16- and 4-value parts
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $end16 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -16)) (i32.const 2))))
        (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2))))
        (block $d16 (loop $l16
          (br_if $d16 (i32.ge_u (local.get $x) (local.get $end16)))
          (local.set $a (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=0 (local.get $x)) (local.get $sv))) (local.get $lov)) (local.get $hiv))) (local.get $zv)))
          (local.set $b (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=16 (local.get $x)) (local.get $sv))) (local.get $lov)) (local.get $hiv))) (local.get $zv)))
          (local.set $c (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=32 (local.get $x)) (local.get $sv))) (local.get $lov)) (local.get $hiv))) (local.get $zv)))
          (local.set $d (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=48 (local.get $x)) (local.get $sv))) (local.get $lov)) (local.get $hiv))) (local.get $zv)))
          (v128.store (local.get $o) (v128.xor (local.get $flip)
            (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $a) (local.get $b)) (i16x8.narrow_i32x4_s (local.get $c) (local.get $d)))))
          (local.set $x (i32.add (local.get $x) (i32.const 64)))
          (local.set $o (i32.add (local.get $o) (i32.const 16)))
          (br $l16)))
        (block $d4 (loop $l4
          (br_if $d4 (i32.ge_u (local.get $x) (local.get $end4)))
          (local.set $a (i32x4.add (i32x4.trunc_sat_f32x4_s (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load (local.get $x)) (local.get $sv))) (local.get $lov)) (local.get $hiv))) (local.get $zv)))
          (local.set $a (i16x8.narrow_i32x4_s (local.get $a) (local.get $a)))
          (v128.store32_lane 0 (local.get $o) (v128.xor (local.get $flip) (i8x16.narrow_i16x8_s (local.get $a) (local.get $a))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (local.set $o (i32.add (local.get $o) (i32.const 4)))
          (br $l4)))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $x) (local.get $end)))
          (local.set $v (f32.nearest (f32.div (f32.load (local.get $x)) (local.get $sc))))
          (local.set $v (select (local.get $lo) (local.get $v) (f32.lt (local.get $v) (local.get $lo))))
          (local.set $v (select (local.get $hi) (local.get $v) (f32.lt (local.get $hi) (local.get $v))))
          (i32.store8 (local.get $o) (i32.add (i32.trunc_sat_f32_s (local.get $v)) (local.get $zi))) ;; the low byte, signed or not
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (local.set $o (i32.add (local.get $o) (i32.const 1)))
          (br $l1)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (local.set $z (i32.add (local.get $z) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  ;; ---------------------------------------------------------------- quantize, one scale per column
  (func (export "quant_cols")
    (param $x i32) (param $o i32) (param $s i32) (param $z i32) (param $nblk i32) (param $rows i32) (param $cols i32)
    (param $qmin f32) (param $qmax f32) (param $off i32)
    (local $k i32) (local $r i32) (local $i i32) (local $ps i32) (local $pz i32) (local $end4 i32) (local $end16 i32)
    (local $zi i32) (local $lo f32) (local $hi f32) (local $v f32)
    (local $qminv v128) (local $qmaxv v128) (local $offv v128) (local $flip v128) (local $zf v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $flip (i8x16.splat (local.get $off)))
    (local.set $qminv (f32x4.splat (local.get $qmin)))
    (local.set $qmaxv (f32x4.splat (local.get $qmax)))
    (local.set $offv (i32x4.splat (local.get $off)))
    (local.set $end16 (i32.and (local.get $cols) (i32.const -16)))
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (block $blk_done
      (loop $blk
        (br_if $blk_done (i32.ge_u (local.get $k) (local.get $nblk)))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $ps (local.get $s))
            (local.set $pz (local.get $z))
            (local.set $i (i32.const 0))
            (block $d16 (loop $l16
              (br_if $d16 (i32.ge_u (local.get $i) (local.get $end16)))
              (local.set $zf (f32x4.convert_i32x4_s (v128.load offset=0 (local.get $pz))))
              (local.set $a (i32x4.add (i32x4.trunc_sat_f32x4_s
                (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=0 (local.get $x)) (v128.load offset=0 (local.get $ps)))) (f32x4.sub (local.get $qminv) (local.get $zf))) (f32x4.sub (local.get $qmaxv) (local.get $zf))))
                (i32x4.sub (v128.load offset=0 (local.get $pz)) (local.get $offv))))
              (local.set $zf (f32x4.convert_i32x4_s (v128.load offset=16 (local.get $pz))))
              (local.set $b (i32x4.add (i32x4.trunc_sat_f32x4_s
                (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $ps)))) (f32x4.sub (local.get $qminv) (local.get $zf))) (f32x4.sub (local.get $qmaxv) (local.get $zf))))
                (i32x4.sub (v128.load offset=16 (local.get $pz)) (local.get $offv))))
              (local.set $zf (f32x4.convert_i32x4_s (v128.load offset=32 (local.get $pz))))
              (local.set $c (i32x4.add (i32x4.trunc_sat_f32x4_s
                (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=32 (local.get $x)) (v128.load offset=32 (local.get $ps)))) (f32x4.sub (local.get $qminv) (local.get $zf))) (f32x4.sub (local.get $qmaxv) (local.get $zf))))
                (i32x4.sub (v128.load offset=32 (local.get $pz)) (local.get $offv))))
              (local.set $zf (f32x4.convert_i32x4_s (v128.load offset=48 (local.get $pz))))
              (local.set $d (i32x4.add (i32x4.trunc_sat_f32x4_s
                (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load offset=48 (local.get $x)) (v128.load offset=48 (local.get $ps)))) (f32x4.sub (local.get $qminv) (local.get $zf))) (f32x4.sub (local.get $qmaxv) (local.get $zf))))
                (i32x4.sub (v128.load offset=48 (local.get $pz)) (local.get $offv))))
              (v128.store (local.get $o) (v128.xor (local.get $flip)
                (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $a) (local.get $b)) (i16x8.narrow_i32x4_s (local.get $c) (local.get $d)))))
              (local.set $x (i32.add (local.get $x) (i32.const 64)))
              (local.set $ps (i32.add (local.get $ps) (i32.const 64)))
              (local.set $pz (i32.add (local.get $pz) (i32.const 64)))
              (local.set $o (i32.add (local.get $o) (i32.const 16)))
              (local.set $i (i32.add (local.get $i) (i32.const 16)))
              (br $l16)))
            (block $d4 (loop $l4
              (br_if $d4 (i32.ge_u (local.get $i) (local.get $end4)))
              (local.set $zf (f32x4.convert_i32x4_s (v128.load (local.get $pz))))
              (local.set $a (i32x4.add (i32x4.trunc_sat_f32x4_s
                (f32x4.pmin (f32x4.pmax (f32x4.nearest (f32x4.div (v128.load (local.get $x)) (v128.load (local.get $ps)))) (f32x4.sub (local.get $qminv) (local.get $zf))) (f32x4.sub (local.get $qmaxv) (local.get $zf))))
                (i32x4.sub (v128.load (local.get $pz)) (local.get $offv))))
              (local.set $a (i16x8.narrow_i32x4_s (local.get $a) (local.get $a)))
              (v128.store32_lane 0 (local.get $o) (v128.xor (local.get $flip) (i8x16.narrow_i16x8_s (local.get $a) (local.get $a))))
              (local.set $x (i32.add (local.get $x) (i32.const 16)))
              (local.set $ps (i32.add (local.get $ps) (i32.const 16)))
              (local.set $pz (i32.add (local.get $pz) (i32.const 16)))
              (local.set $o (i32.add (local.get $o) (i32.const 4)))
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br $l4)))
            (block $d1 (loop $l1
              (br_if $d1 (i32.ge_u (local.get $i) (local.get $cols)))
              (local.set $zi (i32.load (local.get $pz)))
              (local.set $lo (f32.sub (local.get $qmin) (f32.convert_i32_s (local.get $zi))))
              (local.set $hi (f32.sub (local.get $qmax) (f32.convert_i32_s (local.get $zi))))
              (local.set $v (f32.nearest (f32.div (f32.load (local.get $x)) (f32.load (local.get $ps)))))
              (local.set $v (select (local.get $lo) (local.get $v) (f32.lt (local.get $v) (local.get $lo))))
              (local.set $v (select (local.get $hi) (local.get $v) (f32.lt (local.get $hi) (local.get $v))))
              (i32.store8 (local.get $o) (i32.add (i32.trunc_sat_f32_s (local.get $v)) (local.get $zi))) ;; the low byte, signed or not
              (local.set $x (i32.add (local.get $x) (i32.const 4)))
              (local.set $ps (i32.add (local.get $ps) (i32.const 4)))
              (local.set $pz (i32.add (local.get $pz) (i32.const 4)))
              (local.set $o (i32.add (local.get $o) (i32.const 1)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $l1)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $s (i32.add (local.get $s) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $z (i32.add (local.get $z) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $blk))))

  ;; ---------------------------------------------------------------- min/max of each row; returns Σ v·0
  (func (export "minmax_rows")
    (param $x i32) (param $nrows i32) (param $cols i32) (param $mn i32) (param $mx i32) (result f32)
    (local $r i32) (local $end i32) (local $end4 i32) (local $end16 i32) (local $v f32) (local $lmn f32) (local $lmx f32)
    (local $n0 v128) (local $n1 v128) (local $n2 v128) (local $n3 v128)
    (local $m0 v128) (local $m1 v128) (local $m2 v128) (local $m3 v128)
    (local $t v128) (local $nan v128) (local $zero v128)
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $nrows)))
        (local.set $n0 (f32x4.splat (f32.const inf)))
        (local.set $n1 (local.get $n0)) (local.set $n2 (local.get $n0)) (local.set $n3 (local.get $n0))
        (local.set $m0 (f32x4.splat (f32.const -inf)))
        (local.set $m1 (local.get $m0)) (local.set $m2 (local.get $m0)) (local.set $m3 (local.get $m0))
        (local.set $end (i32.add (local.get $x) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $end16 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -16)) (i32.const 2))))
        (local.set $end4 (i32.add (local.get $x) (i32.shl (i32.and (local.get $cols) (i32.const -4)) (i32.const 2))))
        (block $d16 (loop $l16
          (br_if $d16 (i32.ge_u (local.get $x) (local.get $end16)))
          (local.set $t (v128.load offset=0 (local.get $x)))
          (local.set $n0 (f32x4.pmin (local.get $n0) (local.get $t)))
          (local.set $m0 (f32x4.pmax (local.get $m0) (local.get $t)))
          (local.set $nan (f32x4.add (local.get $nan) (f32x4.mul (local.get $t) (local.get $zero))))
          (local.set $t (v128.load offset=16 (local.get $x)))
          (local.set $n1 (f32x4.pmin (local.get $n1) (local.get $t)))
          (local.set $m1 (f32x4.pmax (local.get $m1) (local.get $t)))
          (local.set $nan (f32x4.add (local.get $nan) (f32x4.mul (local.get $t) (local.get $zero))))
          (local.set $t (v128.load offset=32 (local.get $x)))
          (local.set $n2 (f32x4.pmin (local.get $n2) (local.get $t)))
          (local.set $m2 (f32x4.pmax (local.get $m2) (local.get $t)))
          (local.set $nan (f32x4.add (local.get $nan) (f32x4.mul (local.get $t) (local.get $zero))))
          (local.set $t (v128.load offset=48 (local.get $x)))
          (local.set $n3 (f32x4.pmin (local.get $n3) (local.get $t)))
          (local.set $m3 (f32x4.pmax (local.get $m3) (local.get $t)))
          (local.set $nan (f32x4.add (local.get $nan) (f32x4.mul (local.get $t) (local.get $zero))))
          (local.set $x (i32.add (local.get $x) (i32.const 64)))
          (br $l16)))
        (local.set $n0 (f32x4.pmin (f32x4.pmin (local.get $n0) (local.get $n1)) (f32x4.pmin (local.get $n2) (local.get $n3))))
        (local.set $m0 (f32x4.pmax (f32x4.pmax (local.get $m0) (local.get $m1)) (f32x4.pmax (local.get $m2) (local.get $m3))))
        (block $d4 (loop $l4
          (br_if $d4 (i32.ge_u (local.get $x) (local.get $end4)))
          (local.set $t (v128.load (local.get $x)))
          (local.set $n0 (f32x4.pmin (local.get $n0) (local.get $t)))
          (local.set $m0 (f32x4.pmax (local.get $m0) (local.get $t)))
          (local.set $nan (f32x4.add (local.get $nan) (f32x4.mul (local.get $t) (local.get $zero))))
          (local.set $x (i32.add (local.get $x) (i32.const 16)))
          (br $l4)))
        ;; lanes in order, then the scalar tail, with the same comparisons
        (local.set $lmn (f32x4.extract_lane 0 (local.get $n0)))
        (local.set $v (f32x4.extract_lane 1 (local.get $n0)))
        (local.set $lmn (select (local.get $v) (local.get $lmn) (f32.lt (local.get $v) (local.get $lmn))))
        (local.set $v (f32x4.extract_lane 2 (local.get $n0)))
        (local.set $lmn (select (local.get $v) (local.get $lmn) (f32.lt (local.get $v) (local.get $lmn))))
        (local.set $v (f32x4.extract_lane 3 (local.get $n0)))
        (local.set $lmn (select (local.get $v) (local.get $lmn) (f32.lt (local.get $v) (local.get $lmn))))
        (local.set $lmx (f32x4.extract_lane 0 (local.get $m0)))
        (local.set $v (f32x4.extract_lane 1 (local.get $m0)))
        (local.set $lmx (select (local.get $v) (local.get $lmx) (f32.gt (local.get $v) (local.get $lmx))))
        (local.set $v (f32x4.extract_lane 2 (local.get $m0)))
        (local.set $lmx (select (local.get $v) (local.get $lmx) (f32.gt (local.get $v) (local.get $lmx))))
        (local.set $v (f32x4.extract_lane 3 (local.get $m0)))
        (local.set $lmx (select (local.get $v) (local.get $lmx) (f32.gt (local.get $v) (local.get $lmx))))
        (block $d1 (loop $l1
          (br_if $d1 (i32.ge_u (local.get $x) (local.get $end)))
          (local.set $v (f32.load (local.get $x)))
          (local.set $lmn (select (local.get $v) (local.get $lmn) (f32.lt (local.get $v) (local.get $lmn))))
          (local.set $lmx (select (local.get $v) (local.get $lmx) (f32.gt (local.get $v) (local.get $lmx))))
          (local.set $nan (f32x4.add (local.get $nan) (f32x4.splat (f32.mul (local.get $v) (f32.const 0)))))
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (br $l1)))
        (f32.store (local.get $mn) (local.get $lmn))
        (f32.store (local.get $mx) (local.get $lmx))
        (local.set $mn (i32.add (local.get $mn) (i32.const 4)))
        (local.set $mx (i32.add (local.get $mx) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows)))
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $nan)) (f32x4.extract_lane 1 (local.get $nan)))
             (f32.add (f32x4.extract_lane 2 (local.get $nan)) (f32x4.extract_lane 3 (local.get $nan)))))

  ;; ---------------------------------------------------------------- min/max of each column, accumulated into mn/mx
  (func (export "minmax_cols")
    (param $x i32) (param $nblk i32) (param $rows i32) (param $cols i32) (param $mn i32) (param $mx i32) (result f32)
    (local $k i32) (local $r i32) (local $i i32) (local $pn i32) (local $pm i32) (local $end4 i32)
    (local $v f32) (local $t v128) (local $nan v128) (local $zero v128)
    (local.set $end4 (i32.and (local.get $cols) (i32.const -4)))
    (block $blk_done
      (loop $blk
        (br_if $blk_done (i32.ge_u (local.get $k) (local.get $nblk)))
        (local.set $r (i32.const 0))
        (block $rows_done
          (loop $rows
            (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $pn (local.get $mn))
            (local.set $pm (local.get $mx))
            (local.set $i (i32.const 0))
            (block $d4 (loop $l4
              (br_if $d4 (i32.ge_u (local.get $i) (local.get $end4)))
              (local.set $t (v128.load (local.get $x)))
              (v128.store (local.get $pn) (f32x4.pmin (v128.load (local.get $pn)) (local.get $t)))
              (v128.store (local.get $pm) (f32x4.pmax (v128.load (local.get $pm)) (local.get $t)))
              (local.set $nan (f32x4.add (local.get $nan) (f32x4.mul (local.get $t) (local.get $zero))))
              (local.set $x (i32.add (local.get $x) (i32.const 16)))
              (local.set $pn (i32.add (local.get $pn) (i32.const 16)))
              (local.set $pm (i32.add (local.get $pm) (i32.const 16)))
              (local.set $i (i32.add (local.get $i) (i32.const 4)))
              (br $l4)))
            (block $d1 (loop $l1
              (br_if $d1 (i32.ge_u (local.get $i) (local.get $cols)))
              (local.set $v (f32.load (local.get $x)))
              (f32.store (local.get $pn) (select (local.get $v) (f32.load (local.get $pn)) (f32.lt (local.get $v) (f32.load (local.get $pn)))))
              (f32.store (local.get $pm) (select (local.get $v) (f32.load (local.get $pm)) (f32.gt (local.get $v) (f32.load (local.get $pm)))))
              (local.set $nan (f32x4.add (local.get $nan) (f32x4.splat (f32.mul (local.get $v) (f32.const 0)))))
              (local.set $x (i32.add (local.get $x) (i32.const 4)))
              (local.set $pn (i32.add (local.get $pn) (i32.const 4)))
              (local.set $pm (i32.add (local.get $pm) (i32.const 4)))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $l1)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rows)))
        (local.set $mn (i32.add (local.get $mn) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $mx (i32.add (local.get $mx) (i32.shl (local.get $cols) (i32.const 2))))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $blk)))
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $nan)) (f32x4.extract_lane 1 (local.get $nan)))
             (f32.add (f32x4.extract_lane 2 (local.get $nan)) (f32x4.extract_lane 3 (local.get $nan)))))

  ;; ---------------------------------------------------------------- reconstruction error, ErrorKernel's arithmetic
  ;; acc[0] += Σ x², acc[1] += Σ (fp32((q − z)·s) − x)², in double, value by value in order: the same sums as the JS
  ;; kernel, bit for bit (wasm never fuses a multiply-add). `unsigned`: codes are uint8, else int8.
  (func (export "err_rows")
    (param $x i32) (param $q i32) (param $s i32) (param $z i32) (param $nrows i32) (param $cols i32) (param $unsigned i32) (param $acc i32)
    (local $r i32) (local $i i32) (local $sig f64) (local $noi f64) (local $xd f64) (local $e f64) (local $sc f64) (local $zi i32) (local $code i32)
    (local.set $sig (f64.load offset=0 (local.get $acc)))
    (local.set $noi (f64.load offset=8 (local.get $acc)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $nrows)))
        (local.set $sc (f64.promote_f32 (f32.load (local.get $s))))
        (local.set $zi (i32.load (local.get $z)))
        (local.set $i (i32.const 0))
        (block $d (loop $l
          (br_if $d (i32.ge_u (local.get $i) (local.get $cols)))
          (local.set $code (select (i32.load8_u (local.get $q)) (i32.load8_s (local.get $q)) (local.get $unsigned)))
          (local.set $xd (f64.promote_f32 (f32.load (local.get $x))))
          (local.set $e (f64.sub
            (f64.promote_f32 (f32.demote_f64 (f64.mul (f64.convert_i32_s (i32.sub (local.get $code) (local.get $zi))) (local.get $sc))))
            (local.get $xd)))
          (local.set $sig (f64.add (local.get $sig) (f64.mul (local.get $xd) (local.get $xd))))
          (local.set $noi (f64.add (local.get $noi) (f64.mul (local.get $e) (local.get $e))))
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (local.set $s (i32.add (local.get $s) (i32.const 4)))
        (local.set $z (i32.add (local.get $z) (i32.const 4)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows)))
    (f64.store offset=0 (local.get $acc) (local.get $sig))
    (f64.store offset=8 (local.get $acc) (local.get $noi)))

  (func (export "err_cols")
    (param $x i32) (param $q i32) (param $s i32) (param $z i32) (param $rows i32) (param $cols i32) (param $unsigned i32) (param $acc i32)
    (local $r i32) (local $i i32) (local $sig f64) (local $noi f64) (local $xd f64) (local $e f64) (local $code i32) (local $ps i32) (local $pz i32)
    (local.set $sig (f64.load offset=0 (local.get $acc)))
    (local.set $noi (f64.load offset=8 (local.get $acc)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $ps (local.get $s))
        (local.set $pz (local.get $z))
        (local.set $i (i32.const 0))
        (block $d (loop $l
          (br_if $d (i32.ge_u (local.get $i) (local.get $cols)))
          (local.set $code (select (i32.load8_u (local.get $q)) (i32.load8_s (local.get $q)) (local.get $unsigned)))
          (local.set $xd (f64.promote_f32 (f32.load (local.get $x))))
          (local.set $e (f64.sub
            (f64.promote_f32 (f32.demote_f64 (f64.mul (f64.convert_i32_s (i32.sub (local.get $code) (i32.load (local.get $pz))))
                                                      (f64.promote_f32 (f32.load (local.get $ps))))))
            (local.get $xd)))
          (local.set $sig (f64.add (local.get $sig) (f64.mul (local.get $xd) (local.get $xd))))
          (local.set $noi (f64.add (local.get $noi) (f64.mul (local.get $e) (local.get $e))))
          (local.set $x (i32.add (local.get $x) (i32.const 4)))
          (local.set $q (i32.add (local.get $q) (i32.const 1)))
          (local.set $ps (i32.add (local.get $ps) (i32.const 4)))
          (local.set $pz (i32.add (local.get $pz) (i32.const 4)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows)))
    (f64.store offset=0 (local.get $acc) (local.get $sig))
    (f64.store offset=8 (local.get $acc) (local.get $noi)))
)
