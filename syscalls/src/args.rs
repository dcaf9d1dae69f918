//! Typed syscall arguments. Each handler names the types it takes and the table
//! converts the raw registers, truncating as the kernel's C prototypes do.

use std::marker::PhantomData;

use abi::Errno;
use sentry::Task;
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// Conversion of one raw argument register.
pub trait FromArg {
    fn from_arg(raw: u64) -> Self;
}

/// Integers take the low bits of the register, as the C prototype's type does.
macro_rules! int_from_arg {
    ($($t:ty),*) => {$(
        impl FromArg for $t {
            fn from_arg(raw: u64) -> Self {
                raw as $t
            }
        }
    )*};
}
int_from_arg!(u64, i64, u32, i32, usize);

/// A file descriptor argument (`unsigned int fd` in the kernel: -1 is EBADF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fd(pub i32);

impl FromArg for Fd {
    fn from_arg(raw: u64) -> Self {
        Fd(raw as u32 as i32)
    }
}

/// A pointer to one `T` in application memory; checked when touched.
#[derive(Debug)]
pub struct UserPtr<T> {
    pub addr: u64,
    _t: PhantomData<T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserPtr<T> {}

impl<T> FromArg for UserPtr<T> {
    fn from_arg(raw: u64) -> Self {
        UserPtr { addr: raw, _t: PhantomData }
    }
}

impl<T: FromBytes + IntoBytes + Immutable> UserPtr<T> {
    pub fn is_null(self) -> bool {
        self.addr == 0
    }
    pub fn read(self, t: &Task) -> Result<T, Errno> {
        t.mm.read_obj(self.addr)
    }
    pub fn write(self, t: &Task, v: &T) -> Result<(), Errno> {
        t.mm.write_obj(self.addr, v)
    }
    /// Writes `v` unless the pointer is NULL.
    pub fn write_opt(self, t: &Task, v: &T) -> Result<(), Errno> {
        if self.is_null() {
            Ok(())
        } else {
            self.write(t, v)
        }
    }
    /// Reads the value unless the pointer is NULL.
    pub fn read_opt(self, t: &Task) -> Result<Option<T>, Errno> {
        if self.is_null() {
            Ok(None)
        } else {
            self.read(t).map(Some)
        }
    }
}

/// The address of a buffer whose length is another argument.
#[derive(Clone, Copy, Debug)]
pub struct UserBuf(pub u64);

impl FromArg for UserBuf {
    fn from_arg(raw: u64) -> Self {
        UserBuf(raw)
    }
}

/// A NUL-terminated string in application memory (a path, a name).
#[derive(Clone, Copy, Debug)]
pub struct UserCStr(pub u64);

impl FromArg for UserCStr {
    fn from_arg(raw: u64) -> Self {
        UserCStr(raw)
    }
}

/// PATH_MAX, counting the NUL.
pub const PATH_MAX: usize = 4096;

impl UserCStr {
    /// Reads a path: EFAULT, or ENAMETOOLONG past PATH_MAX.
    pub fn read_path(self, t: &Task) -> Result<Vec<u8>, Errno> {
        t.mm.read_cstring(self.0, PATH_MAX - 1)
    }
}

impl<T> UserPtr<T> {
    /// The NULL pointer, for optional outputs a caller does not want.
    pub fn from_null() -> Self {
        UserPtr { addr: 0, _t: PhantomData }
    }

    /// A pointer from an argument that is a pointer in some uses only.
    pub fn from_addr(addr: u64) -> Self {
        UserPtr { addr, _t: PhantomData }
    }
}
