//! Error values: what the kernel returns (`Errno`), what userspace observes
//! on a memory access (`AccessOutcome`), and misuse of this library's API
//! that the kernel would never even see (`Misuse`: bad handles, indices out
//! of the mapping). Misuse never changes state.

use std::fmt;

/// The errno values the operations can return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(clippy::upper_case_acronyms)]
pub enum Errno {
    EINVAL,
    EAGAIN,
    EFAULT,
    EBUSY,
    ETIMEDOUT,
    EBADF,
    ENODEV,
    ENOMEM,
    /// `kvm_gmem_get_pfn()` on a poisoned folio.
    EHWPOISON,
    /// `KVM_SET_MEMORY_ATTRIBUTES2` with in-place conversion off.
    ENOTTY,
    /// A thread would wait for a lock it holds itself (the implementation
    /// reports the self-deadlock instead of hanging; see `locktrack`).
    EDEADLK,
}

impl Errno {
    pub fn name(self) -> &'static str {
        match self {
            Errno::EINVAL => "EINVAL",
            Errno::EAGAIN => "EAGAIN",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::ETIMEDOUT => "ETIMEDOUT",
            Errno::EBADF => "EBADF",
            Errno::ENODEV => "ENODEV",
            Errno::ENOMEM => "ENOMEM",
            Errno::EHWPOISON => "EHWPOISON",
            Errno::ENOTTY => "ENOTTY",
            Errno::EDEADLK => "EDEADLK",
        }
    }
    pub fn by_name(s: &str) -> Option<Errno> {
        use Errno::*;
        [
            EINVAL, EAGAIN, EFAULT, EBUSY, ETIMEDOUT, EBADF, ENODEV, ENOMEM, EHWPOISON, ENOTTY,
            EDEADLK,
        ]
        .into_iter()
        .find(|e| e.name() == s)
    }
}

/// API misuse: the call is rejected before touching any state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Misuse {
    UnknownPin(u64),
    UnknownProcess(u32),
    TooManyProcesses,
    PageOutOfRange {
        page: usize,
        limit: usize,
    },
    /// A bug switch whose guard this implementation does not have.
    UnsupportedBug(&'static str, &'static str),
    /// A VM index beyond the VMs the file can be bound to.
    UnknownVm(usize),
    /// A configuration the implementation cannot be created with.
    BadConfig(&'static str),
    /// A device id that names no device (never registered, or gone).
    UnknownDevice(u32),
    /// A device operation on a device of another kind (an ODP step on a
    /// VFIO mapping, a VFIO unmap of an ODP device).
    WrongDevice(u32, &'static str),
    /// `odp_program` without a pfn from `odp_walk` before it.
    NothingWalked(u32),
}

impl fmt::Display for Misuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Misuse::UnknownPin(id) => {
                write!(f, "unknown pin {id} (never taken, or already unpinned)")
            }
            Misuse::UnknownProcess(p) => write!(f, "unknown process {p}"),
            Misuse::TooManyProcesses => write!(f, "too many processes (at most 64)"),
            Misuse::PageOutOfRange { page, limit } => {
                write!(f, "page {page} out of range (limit {limit})")
            }
            Misuse::UnknownVm(v) => write!(
                f,
                "unknown VM {v} (VMs 0..{} can bind the file)",
                invariants::MAX_VMS
            ),
            Misuse::UnsupportedBug(bug, why) => {
                write!(f, "bug switch {bug} is not in the implementation: {why}")
            }
            Misuse::BadConfig(why) => write!(f, "bad configuration: {why}"),
            Misuse::UnknownDevice(d) => {
                write!(f, "unknown device {d} (never registered, or already gone)")
            }
            Misuse::WrongDevice(d, why) => write!(f, "device {d}: {why}"),
            Misuse::NothingWalked(d) => write!(
                f,
                "device {d}: nothing to program (no odp_walk since the last odp_program)"
            ),
        }
    }
}

/// The result of an operation that did not complete normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// What the kernel returns; `error_index` is the ioctl's error_offset
    /// (in pages) where it has one.
    Sys {
        errno: Errno,
        error_index: Option<usize>,
    },
    Misuse(Misuse),
}

impl Error {
    pub fn sys(errno: Errno) -> Error {
        Error::Sys {
            errno,
            error_index: None,
        }
    }
    pub fn at(errno: Errno, index: usize) -> Error {
        Error::Sys {
            errno,
            error_index: Some(index),
        }
    }
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Sys { errno, .. } => Some(*errno),
            Error::Misuse(_) => None,
        }
    }
}

impl From<Misuse> for Error {
    fn from(m: Misuse) -> Error {
        Error::Misuse(m)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sys {
                errno,
                error_index: Some(i),
            } => write!(f, "{} (error_offset page {i})", errno.name()),
            Error::Sys {
                errno,
                error_index: None,
            } => f.write_str(errno.name()),
            Error::Misuse(m) => write!(f, "misuse: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// What a memory access observes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessOutcome {
    /// A read returned this byte, or a write stored it.
    Value(u8),
    /// Host access to memory it may not fault in (private, beyond i_size).
    Sigbus,
    /// Guest access whose private/shared type mismatches the attribute:
    /// KVM_EXIT_MEMORY_FAULT to userspace (docs/kernel.md#guest-fault).
    MemoryFault,
}

pub type Result<T> = std::result::Result<T, Error>;
