"""The precision "auto" means on each kind of machine, chosen by a pure function of the device."""

from __future__ import annotations

import pytest

from shallowdeep.backend import Device, choose_precision, current_device, environment, resolve_precision

XEON_AMX = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
ZEN3 = frozenset({"avx2", "fma"})


@pytest.mark.parametrize(("device", "expected"), [
    (Device("cpu", "Intel Xeon (Sapphire Rapids)", XEON_AMX), "bf16"),
    (Device("cpu", "AMD EPYC (Zen 4)", ZEN4), "bf16"),
    (Device("cpu", "AMD EPYC (Zen 3)", ZEN3), "fp32"),
    (Device("cpu", "Apple M2", frozenset()), "fp32"),
    (Device("cpu", "AMD EPYC (Zen 4)", ZEN4, isa_cap="AVX2"), "fp32"),
    (Device("cpu", "AMD EPYC (Zen 4)", ZEN4, isa_cap="avx512_core_bf16"), "bf16"),
    (Device("cpu", "Intel Xeon", XEON_AMX, isa_cap="AVX512_CORE_AMX"), "bf16"),
    (Device("gpu", "NVIDIA H100", compute_capability=(9, 0)), "bf16"),
    (Device("gpu", "NVIDIA A100", compute_capability=(8, 0)), "bf16"),
    (Device("gpu", "Tesla T4", compute_capability=(7, 5)), "fp16"),
])
def test_auto_picks_bfloat16_only_where_the_hardware_computes_it(device, expected):
    chosen = choose_precision(device)
    assert chosen.name == expected
    assert device.name in chosen.reason or "ONEDNN_MAX_CPU_ISA" in chosen.reason
    assert chosen.policy == {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "fp32": "float32"}[expected]


def test_a_run_records_the_precision_it_used_and_why():
    recorded = environment(resolve_precision("auto"))
    assert recorded["precision"] in ("bf16", "fp32", "fp16") and recorded["precision_reason"]
    assert recorded["cpu"] and recorded["device"] in ("cpu", current_device().name)
    assert environment(resolve_precision("fp32"))["precision_reason"] == "asked for in the experiment"
