"""What the hardware can do, read from torch's queries or /proc/cpuinfo (both patched here)."""

import pytest
import torch

from skbert import _hardware
from skbert._hardware import CPU, GPU

XEON_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz
flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz
flags\t\t: fpu sse avx2 avx512f avx512bw avx512_vnni
"""
GRAVITON_CPUINFO = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd asimddp bf16 i8mm sve
CPU implementer\t: 0x41
"""


@pytest.fixture
def machine(monkeypatch):
    """Patch the CPU queries; ``cpu()`` asks them afresh in each test."""

    def patch(capabilities=None, cpuinfo=None):
        monkeypatch.setattr(_hardware, "_torch_cpu_capabilities", lambda: capabilities)
        monkeypatch.setattr(_hardware, "_cpuinfo", lambda: cpuinfo)
        _hardware.cpu.cache_clear()
        return _hardware.cpu()

    yield patch
    _hardware.cpu.cache_clear()


def test_torch_capabilities_give_the_flags_and_cpuinfo_the_full_name(machine):
    found = machine(
        {"architecture": "x86_64", "cpu_name": "Intel Xeon", "avx512_f": True,
         "avx512_vnni": True, "avx512_bf16": False, "l2_cache_size": 1048576},
        XEON_CPUINFO,
    )  # fmt: skip
    assert found.flags == {"avx512_f", "avx512_vnni"}  # False and numbers are not flags
    assert found.name == "Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz"
    assert (found.native_bf16, found.int8_dot, found.x86) == (False, True, True)


def test_cpuinfo_is_the_fallback_where_torch_cannot_tell(machine):
    found = machine(None, XEON_CPUINFO)
    assert {"avx512_f", "avx512_bw", "avx512_vnni"} <= found.flags  # torch's spelling
    assert "avx512f" not in found.flags
    assert not found.native_bf16 and found.int8_dot


def test_arm_features_are_read_too(machine):
    found = machine(None, GRAVITON_CPUINFO)
    assert {"bf16", "i8mm", "dot"} <= found.flags
    assert found.native_bf16 and found.int8_dot


def test_torch_capabilities_alone_suffice(machine):
    found = machine({"architecture": "x86_64", "cpu_name": "AMD EPYC", "avx512_bf16": True})
    assert (found.name, found.architecture, found.native_bf16) == ("AMD EPYC", "x86_64", True)


def test_no_query_answering_still_describes_a_cpu(machine):
    found = machine(None, None)
    assert found.flags == frozenset() and found.name
    assert not (found.native_bf16 or found.native_fp16 or found.int8_dot)


@pytest.mark.parametrize(
    ("flags", "bf16", "fp16", "int8"),
    [
        ({"avx2"}, False, False, False),
        ({"avx2", "avx_vnni"}, False, False, True),
        ({"avx512_f", "avx512_vnni"}, False, False, True),
        ({"avx512_f", "avx512_vnni", "avx512_bf16"}, True, False, True),
        ({"avx512_bf16", "amx_bf16", "amx_int8", "amx_fp16", "amx_tile"}, True, True, True),
        ({"amx_bf16", "amx_tile"}, True, False, False),
    ],
)
def test_native_precisions_follow_the_instruction_sets(flags, bf16, fp16, int8):
    found = CPU("x", "x86_64", frozenset(flags))
    assert (found.native_bf16, found.native_fp16, found.int8_dot) == (bf16, fp16, int8)


def test_describe_names_the_cpu_and_only_the_flags_that_matter():
    found = CPU("AMD EPYC", "x86_64", frozenset({"sse", "avx2", "avx512_f", "avx512_bf16"}))
    assert found.describe() == "AMD EPYC (avx2, avx512_f, avx512_bf16)"
    assert "none of" in CPU("old", "x86_64", frozenset({"sse"})).describe()


def test_the_real_queries_answer_on_this_machine():
    _hardware.cpu.cache_clear()
    found = _hardware.cpu()
    assert found.name and found.architecture
    capabilities = _hardware._torch_cpu_capabilities()
    assert capabilities is None or "architecture" in capabilities


@pytest.mark.parametrize(
    ("capability", "bf16", "tensor_cores"),
    [((6, 1), False, False), ((7, 5), False, True), ((8, 0), True, True), ((9, 0), True, True)],
)
def test_a_cuda_device_is_described_by_its_compute_capability(
    monkeypatch, capability, bf16, tensor_cores
):
    monkeypatch.setattr(_hardware, "_cuda_properties", lambda device: ("GPU", capability, bf16))
    gpu = _hardware.cuda(torch.device("cuda"))
    assert gpu == GPU("GPU", capability, bf16)
    assert gpu.tensor_cores is tensor_cores
    assert f"compute capability {capability[0]}.{capability[1]}" in gpu.describe()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_real_cuda_query_answers():
    gpu = _hardware.cuda(torch.device("cuda"))
    assert gpu.capability >= (3, 0) and gpu.native_bf16 == (gpu.capability >= (8, 0))


@pytest.mark.parametrize(
    ("architecture", "flags", "kind"),
    [
        ("x86_64", {"avx2"}, "avx2"),
        ("x86_64", {"avx2", "avx_vnni"}, "vnni"),
        ("x86_64", {"avx2", "avx512_f", "avx512_vnni"}, "vnni"),
        ("x86_64", {"avx2", "avx512_f", "avx512_vnni", "avx512_bf16"}, "avx512_bf16"),
        ("x86_64", {"avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile"}, "amx"),
        ("x86_64", {"sse4_2"}, "other"),
        ("aarch64", {"bf16", "dot", "i8mm"}, "other"),
    ],
)
def test_each_cpu_falls_in_one_kind_of_the_measured_table(architecture, flags, kind):
    assert CPU("a CPU", architecture, frozenset(flags)).kind == kind
