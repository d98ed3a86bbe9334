//! Fuzzing of the image layer reader (`Layer::unpack`, `docs/fuzzing.md`): archives built from
//! random entries (files, directories, symbolic and hard links; names with `..`, `.`, empty,
//! absolute, newline and non-ASCII components, some in PAX records; link targets inside and
//! outside the image), some with random bytes changed or cut short, unpacked into a destination
//! where an earlier layer may have left a link pointing outside. Properties: never a panic;
//! nothing is written outside the destination (a sentinel tree next to it stays as it was);
//! every path reported written is inside it. `PROPTEST_CASES` sets the count (default 256).

use super::*;
use proptest::prelude::*;

/// A raw USTAR header block for `name` (at most 100 bytes) of `kind` with `size` bytes.
fn header(name: &[u8], kind: u8, size: usize, link: &[u8]) -> [u8; 512] {
    let mut block = [0u8; 512];
    let name = &name[..name.len().min(100)];
    block[..name.len()].copy_from_slice(name);
    block[100..108].copy_from_slice(b"0000755\0");
    block[108..116].copy_from_slice(b"0000000\0");
    block[116..124].copy_from_slice(b"0000000\0");
    block[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    block[136..148].copy_from_slice(b"00000000000\0");
    block[156] = kind;
    let link = &link[..link.len().min(100)];
    block[157..157 + link.len()].copy_from_slice(link);
    block[257..263].copy_from_slice(b"ustar\0");
    block[263..265].copy_from_slice(b"00");
    block[148..156].copy_from_slice(b"        ");
    let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
    block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    block
}

fn push_data(archive: &mut Vec<u8>, data: &[u8]) {
    archive.extend_from_slice(data);
    archive.resize(archive.len().div_ceil(512) * 512, 0);
}

#[derive(Clone, Debug)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(Vec<u8>),
    HardLink(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Entry {
    name: Vec<u8>,
    kind: Kind,
    pax: bool,
}

fn path() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["", "/", "./", "../"]),
        prop::sample::select(vec![
            "w/layers",
            "w/layers/a_b",
            "cnb",
            "w",
            "etc",
            "w/layers/..",
        ]),
        prop::collection::vec(
            prop::sample::select(vec![
                "l", "x", "..", ".", "", "a_b", "bin", "\u{e9}", "a\nb", "link",
            ]),
            0..4,
        ),
    )
        .prop_map(|(lead, base, rest)| {
            let mut path = format!("{lead}{base}");
            for part in rest {
                path.push('/');
                path.push_str(part);
            }
            path.into_bytes()
        })
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        path(),
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40).prop_map(Kind::File),
            Just(Kind::Dir),
            prop_oneof![
                path(),
                Just(b"/outside".to_vec()),
                Just(b"../../../../outside".to_vec()),
                Just(b"../..".to_vec())
            ]
            .prop_map(Kind::Symlink),
            path().prop_map(Kind::HardLink),
        ],
        any::<bool>(),
    )
        .prop_map(|(name, kind, pax)| Entry { name, kind, pax })
}

fn archive(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        let (kind, data, link): (u8, &[u8], &[u8]) = match &entry.kind {
            Kind::File(data) => (b'0', data, b""),
            Kind::Dir => (b'5', b"", b""),
            Kind::Symlink(target) => (b'2', b"", target),
            Kind::HardLink(target) => (b'1', b"", target),
        };
        if entry.pax {
            let mut records = Vec::new();
            for (key, value) in [(&b"path"[..], &entry.name[..]), (b"linkpath", link)] {
                if value.is_empty() {
                    continue;
                }
                let body_len = key.len() + value.len() + 3;
                let mut length = body_len + 1;
                while format!("{length}").len() + body_len != length {
                    length = format!("{length}").len() + body_len;
                }
                records.extend_from_slice(format!("{length} ").as_bytes());
                records.extend_from_slice(key);
                records.push(b'=');
                records.extend_from_slice(value);
                records.push(b'\n');
            }
            out.extend_from_slice(&header(b"PaxHeader", b'x', records.len(), b""));
            push_data(&mut out, &records);
            out.extend_from_slice(&header(b"mangled", kind, data.len(), b"mangled"));
        } else {
            out.extend_from_slice(&header(&entry.name, kind, data.len(), link));
        }
        push_data(&mut out, data);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

/// Every path under `dir` with its content (files) or target (links).
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&at) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let content = if meta.file_type().is_symlink() {
                std::fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_vec()
            } else if meta.is_dir() {
                stack.push(path.clone());
                Vec::new()
            } else {
                std::fs::read(&path).unwrap()
            };
            out.push((path, content));
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn unpacking_any_layer_never_panics_nor_writes_outside(
        entries in prop::collection::vec(entry(), 0..8),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        cut in prop::option::weighted(0.1, any::<prop::sample::Index>()),
        earlier_link in any::<bool>(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(outside.join("dir")).unwrap();
        std::fs::write(outside.join("file"), b"sentinel").unwrap();
        let dest = tmp.path().join("out");
        std::fs::create_dir_all(dest.join("layers")).unwrap();
        if earlier_link {
            // An earlier layer's link pointing out of the destination.
            std::os::unix::fs::symlink(&outside, dest.join("layers/a_b")).unwrap();
        }
        let before = snapshot(&outside);
        let mut bytes = archive(&entries);
        for (index, byte) in &mutations {
            let at = index.index(bytes.len());
            bytes[at] = *byte;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        let blob = tmp.path().join("blob");
        let moves = vec![
            (PathBuf::from("/w/layers"), dest.join("layers")),
            (PathBuf::from("/cnb"), dest.join("cnb")),
        ];
        let result = unpack_tar(Box::new(std::io::Cursor::new(bytes)), &blob, &moves, None);
        prop_assert_eq!(snapshot(&outside), before, "written outside the destination");
        let mut top: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        top.sort();
        prop_assert_eq!(top, vec!["out", "outside"]);
        if let Ok(written) = result {
            for path in written {
                prop_assert!(path.starts_with(&dest), "{} reported written", path.display());
            }
        }
    }
}
