//! Copying and removing trees: symlinks kept as symlinks, modes kept, holes of sparse files kept.

use std::io::{Read, Write};
use std::path::Path;

/// Copies a directory tree, keeping symlinks as symlinks and file modes; `skip` names entries
/// of the top directory not to copy.
pub(crate) fn copy_dir(from: &Path, to: &Path, skip: &[&str]) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if skip.iter().any(|s| name == **s) {
            continue;
        }
        let source = entry.path();
        let target = to.join(&name);
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if kind.is_dir() {
            copy_dir(&source, &target, &[])?;
        } else {
            copy_file(&source, &target)?;
        }
    }
    Ok(())
}

/// Copies one regular file with its permissions, keeping holes: a sparse file (fewer blocks
/// allocated than its length needs, e.g. a 2 GiB file made with `set_len`) is copied by
/// [`write_sparse`], so an app with a huge sparse file costs neither disk nor memory. Other
/// files go through `std::fs::copy`.
pub(crate) fn copy_file(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(from)?;
    let sparse = meta.blocks().saturating_mul(512) < meta.len();
    if !sparse {
        std::fs::copy(from, to)?;
        return Ok(());
    }
    let mut output = std::fs::File::create(to)?;
    write_sparse(&mut std::fs::File::open(from)?, &mut output)?;
    output.set_permissions(meta.permissions())?;
    Ok(())
}

/// Writes everything `input` yields into the new, empty file `output`, turning runs of zeros
/// (1 MiB chunks) into holes: a fixed buffer, whatever the size; zero checks by `memcmp`.
pub(crate) fn write_sparse(
    input: &mut impl Read,
    output: &mut std::fs::File,
) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0_u8; CHUNK];
    let mut buffer = vec![0_u8; CHUNK];
    let mut length: u64 = 0;
    loop {
        // Fill the chunk (a reader may return less than asked), so holes line up with chunks.
        let mut filled = 0;
        while filled < CHUNK {
            let read = input.read(&mut buffer[filled..])?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        if filled == 0 {
            break;
        }
        let chunk = &buffer[..filled];
        if chunk == &zeros[..filled] {
            output.seek(SeekFrom::Current(
                i64::try_from(filled).map_err(std::io::Error::other)?,
            ))?;
        } else {
            output.write_all(chunk)?;
        }
        length += filled as u64;
        if filled < CHUNK {
            break;
        }
    }
    output.set_len(length)?;
    Ok(length)
}

/// Removes a file or directory tree if it exists.
pub(crate) fn remove_path(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}
