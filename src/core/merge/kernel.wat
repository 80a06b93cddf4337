;; SIMD kernels of the merge: out = cp + α·(chat − base), every operation in f32 (WebAssembly float
;; arithmetic is IEEE 754 round-to-nearest-even with subnormals and never fuses a multiply-add), then
;; rounded to nearest even into the output dtype; NaN results become the canonical quiet NaN.
;; Pointers are byte offsets into the exported memory; `n` is a count of elements, processed in groups
;; of 8, so buffers need 32 bytes of slack past the last element. Every loop is written out without calls:
;; V8 does not inline WebAssembly calls, and a call per vector made the kernel 5× slower.
;; bf16 rounding: (bits + 0x7fff + ((bits >> 16) & 1)) >> 16, NaN lanes replaced by 0x7fc0.
;; Compiled by scripts/build-kernels.ts.
(module
  (memory (export "memory") 1)

  ;; cp + α·(chat − base) with bf16 inputs and a bf16 output, one chat vector
  (func (export "merge1_bf16") (param $cp i32) (param $base i32) (param $chat i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $p v128) (local $rl v128) (local $rh v128)
    (local $bias v128) (local $one v128) (local $nan v128)
    (local.set $a (f32x4.splat (local.get $alpha)))
    (local.set $bias (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
    (local.set $one (v128.const i32x4 1 1 1 1))
    (local.set $nan (v128.const i32x4 0x7fc0 0x7fc0 0x7fc0 0x7fc0))
    (local.set $end (i32.shl (local.get $n) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $b (v128.load (i32.add (local.get $base) (local.get $i))))
        (local.set $c (v128.load (i32.add (local.get $chat) (local.get $i))))
        (local.set $p (v128.load (i32.add (local.get $cp) (local.get $i))))
        (local.set $rl (f32x4.add
          (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $p)) (i32.const 16))
          (f32x4.mul (local.get $a) (f32x4.sub
            (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $c)) (i32.const 16))
            (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $b)) (i32.const 16))))))
        (local.set $rh (f32x4.add
          (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $p)) (i32.const 16))
          (f32x4.mul (local.get $a) (f32x4.sub
            (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $c)) (i32.const 16))
            (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $b)) (i32.const 16))))))
        (v128.store (i32.add (local.get $out) (local.get $i))
          (i16x8.narrow_i32x4_u
            (v128.bitselect (local.get $nan)
              (i32x4.shr_u (i32x4.add (i32x4.add (local.get $rl) (local.get $bias)) (v128.and (i32x4.shr_u (local.get $rl) (i32.const 16)) (local.get $one))) (i32.const 16))
              (f32x4.ne (local.get $rl) (local.get $rl)))
            (v128.bitselect (local.get $nan)
              (i32x4.shr_u (i32x4.add (i32x4.add (local.get $rh) (local.get $bias)) (v128.and (i32x4.shr_u (local.get $rh) (i32.const 16)) (local.get $one))) (i32.const 16))
              (f32x4.ne (local.get $rh) (local.get $rh)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; cp + α·(chat − base) with f32 inputs and an f32 output, one chat vector
  (func (export "merge1_f32") (param $cp i32) (param $base i32) (param $chat i32) (param $out i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end i32) (local $a v128) (local $r v128) (local $nan v128)
    (local.set $a (f32x4.splat (local.get $alpha)))
    (local.set $nan (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $r
          (f32x4.add (v128.load (i32.add (local.get $cp) (local.get $i)))
            (f32x4.mul (local.get $a)
              (f32x4.sub (v128.load (i32.add (local.get $chat) (local.get $i))) (v128.load (i32.add (local.get $base) (local.get $i)))))))
        (v128.store (i32.add (local.get $out) (local.get $i)) (v128.bitselect (local.get $nan) (local.get $r) (f32x4.ne (local.get $r) (local.get $r))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; acc[i] = f32(bf16 src[i])
  (func (export "bf16_to_f32") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $end i32) (local $v v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $v (v128.load (i32.add (local.get $src) (local.get $i))))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1))) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $v)) (i32.const 16)))
        (v128.store offset=16 (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 1))) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $v)) (i32.const 16)))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; acc += α·(chat − base), bf16 base and chat, f32 acc
  (func (export "acc_bf16") (param $acc i32) (param $base i32) (param $chat i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $o i32)
    (local.set $a (f32x4.splat (local.get $alpha)))
    (local.set $end (i32.shl (local.get $n) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $b (v128.load (i32.add (local.get $base) (local.get $i))))
        (local.set $c (v128.load (i32.add (local.get $chat) (local.get $i))))
        (local.set $o (i32.add (local.get $acc) (i32.shl (local.get $i) (i32.const 1))))
        (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (f32x4.mul (local.get $a) (f32x4.sub (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $c)) (i32.const 16)) (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $b)) (i32.const 16))))))
        (v128.store offset=16 (local.get $o) (f32x4.add (v128.load offset=16 (local.get $o)) (f32x4.mul (local.get $a) (f32x4.sub (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $c)) (i32.const 16)) (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $b)) (i32.const 16))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; acc += α·(chat − base), all f32
  (func (export "acc_f32") (param $acc i32) (param $base i32) (param $chat i32) (param $n i32) (param $alpha f32)
    (local $i i32) (local $end i32) (local $a v128) (local $o i32)
    (local.set $a (f32x4.splat (local.get $alpha)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $o (i32.add (local.get $acc) (local.get $i)))
        (v128.store (local.get $o)
          (f32x4.add (v128.load (local.get $o))
            (f32x4.mul (local.get $a) (f32x4.sub (v128.load (i32.add (local.get $chat) (local.get $i))) (v128.load (i32.add (local.get $base) (local.get $i)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; bf16 dst[i] = round(acc[i]), canonical NaN
  (func (export "f32_to_bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $end i32) (local $s i32) (local $rl v128) (local $rh v128) (local $bias v128) (local $one v128) (local $nan v128)
    (local.set $bias (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
    (local.set $one (v128.const i32x4 1 1 1 1))
    (local.set $nan (v128.const i32x4 0x7fc0 0x7fc0 0x7fc0 0x7fc0))
    (local.set $end (i32.shl (local.get $n) (i32.const 1)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 1))))
        (local.set $rl (v128.load (local.get $s)))
        (local.set $rh (v128.load offset=16 (local.get $s)))
        (v128.store (i32.add (local.get $dst) (local.get $i))
          (i16x8.narrow_i32x4_u
            (v128.bitselect (local.get $nan)
              (i32x4.shr_u (i32x4.add (i32x4.add (local.get $rl) (local.get $bias)) (v128.and (i32x4.shr_u (local.get $rl) (i32.const 16)) (local.get $one))) (i32.const 16))
              (f32x4.ne (local.get $rl) (local.get $rl)))
            (v128.bitselect (local.get $nan)
              (i32x4.shr_u (i32x4.add (i32x4.add (local.get $rh) (local.get $bias)) (v128.and (i32x4.shr_u (local.get $rh) (i32.const 16)) (local.get $one))) (i32.const 16))
              (f32x4.ne (local.get $rh) (local.get $rh)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))

  ;; f32 dst[i] = acc[i], canonical NaN
  (func (export "f32_canon") (param $src i32) (param $dst i32) (param $n i32)
    (local $i i32) (local $end i32) (local $r v128)
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
        (local.set $r (v128.load (i32.add (local.get $src) (local.get $i))))
        (v128.store (i32.add (local.get $dst) (local.get $i))
          (v128.bitselect (v128.const i32x4 0x7fc00000 0x7fc00000 0x7fc00000 0x7fc00000) (local.get $r) (f32x4.ne (local.get $r) (local.get $r))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $next))))
)
