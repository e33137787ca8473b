//! A tiny seccomp compiler: OCI profile in, classic BPF program out.
//!
//! A seccomp filter is a program for the kernel's classic BPF machine, run on
//! every system call with a `struct seccomp_data` as input: `nr` at offset 0,
//! `arch` at offset 4, then the instruction pointer and six arguments. It
//! returns an action (allow, errno, kill...). libseccomp does this compiling
//! for runc; orc does it by hand because the program is short and reading it
//! is the best way to understand seccomp:
//!
//! ```text
//!   ld  [4]                 ; arch
//!   jeq AUDIT_ARCH_X86_64, +1
//!   ret KILL_PROCESS        ; a 32-bit syscall entry would bypass the table
//!   ld  [0]                 ; nr
//!   jge 0x40000000, kill    ; x32 ABI numbers, same reason
//!   jeq <nr of rule 1>, +0, +1
//!   ret <action of rule 1>
//!   ...
//!   ret <default action>
//! ```
//!
//! Argument filters (`args`) are not implemented; rules using them are
//! refused with an error rather than compiled into something wider.

use crate::spec::{Seccomp, SeccompAction};
// The x86_64 table by name, whatever machine orc is built on: the filters
// this compiler writes check for AUDIT_ARCH_X86_64 and nothing else.
use syscalls::x86_64::Sysno;

/// Why a profile cannot be compiled.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SeccompError {
    #[error("unknown syscall `{0}` (orc knows the x86_64 table only)")]
    UnknownSyscall(String),
    #[error("rule for `{0}` filters on arguments, which orc's compiler does not implement")]
    ArgsUnsupported(String),
    #[error("architectures {0:?} do not include SCMP_ARCH_X86_64")]
    Architecture(Vec<String>),
}

// Constants from <linux/seccomp.h>, <linux/audit.h> and <linux/filter.h>.
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_KILL_THREAD: u32 = 0x0000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_LOG: u32 = 0x7ffc_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The syscall number for a name, on x86_64.
///
/// OCI profiles name syscalls ("mkdir", "reboot"); a BPF filter compares
/// numbers. The `syscalls` crate's table is generated from the kernel's
/// own syscall lists, so it names every x86_64 syscall with its number.
pub fn syscall_number(name: &str) -> Option<i64> {
    name.parse::<Sysno>().ok().map(|nr| i64::from(nr.id()))
}

/// The 32-bit return value for an action.
fn ret_value(action: SeccompAction, errno: Option<u32>) -> u32 {
    match action {
        SeccompAction::Allow => SECCOMP_RET_ALLOW,
        // The errno lives in the low 16 bits (SECCOMP_RET_DATA).
        SeccompAction::Errno => SECCOMP_RET_ERRNO | (errno.unwrap_or(libc::EPERM as u32) & 0xffff),
        SeccompAction::Kill => SECCOMP_RET_KILL_THREAD,
        SeccompAction::KillProcess => SECCOMP_RET_KILL_PROCESS,
        SeccompAction::Trap => SECCOMP_RET_TRAP,
        SeccompAction::Log => SECCOMP_RET_LOG,
    }
}

/// Compile a profile into BPF instructions, in the order the kernel runs them.
///
/// Rules are checked first to last and the first match wins; a syscall named
/// by no rule gets the default action.
// ANCHOR: compile
pub fn compile(profile: &Seccomp) -> Result<Vec<libc::sock_filter>, SeccompError> {
    let arches = &profile.architectures;
    if !arches.is_empty() && !arches.iter().any(|a| a == "SCMP_ARCH_X86_64") {
        return Err(SeccompError::Architecture(arches.clone()));
    }
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, 4),
        jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD_W_ABS, 0),
        jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
    ];
    for rule in &profile.syscalls {
        let ret = ret_value(rule.action, rule.errno_ret);
        for name in &rule.names {
            if !rule.args.is_empty() {
                return Err(SeccompError::ArgsUnsupported(name.clone()));
            }
            let nr =
                syscall_number(name).ok_or_else(|| SeccompError::UnknownSyscall(name.clone()))?;
            // If nr matches fall through to the ret, else skip over it.
            prog.push(jump(BPF_JEQ_K, nr as u32, 0, 1));
            prog.push(stmt(BPF_RET_K, ret));
        }
    }
    let default = ret_value(profile.default_action, profile.default_errno_ret);
    prog.push(stmt(BPF_RET_K, default));
    Ok(prog)
}
// ANCHOR_END: compile

/// Syscalls the default profile refuses: they reconfigure the whole kernel
/// (modules, kexec, reboot, swap, accounting), reach outside the container
/// through the kernel's global state (keyrings, `open_by_handle_at`, the
/// "shocker" escape), or are large, rarely needed attack surface (bpf,
/// perf_event_open, userfaultfd). Most also need capabilities a container
/// does not have; the filter is the second fence.
pub const DEFAULT_DENIED: &[&str] = &[
    "acct",
    "add_key",
    "bpf",
    "delete_module",
    "finit_module",
    "init_module",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "move_pages",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "quotactl",
    "reboot",
    "request_key",
    "swapoff",
    "swapon",
    "userfaultfd",
    "uselib",
];

/// orc's default profile: allow everything except [`DEFAULT_DENIED`], which
/// fail with EPERM (not a kill: programs probing for a feature should see
/// "not permitted" and carry on).
///
/// Docker's profile is the opposite shape (an allowlist of ~350 syscalls
/// with argument filters); a short denylist is easier to read and to
/// reason about, at the price of allowing syscalls added to future kernels.
pub fn default_profile() -> Seccomp {
    Seccomp {
        default_action: SeccompAction::Allow,
        default_errno_ret: None,
        architectures: vec!["SCMP_ARCH_X86_64".into()],
        syscalls: vec![crate::spec::SyscallRule {
            names: DEFAULT_DENIED.iter().map(|s| s.to_string()).collect(),
            action: SeccompAction::Errno,
            errno_ret: Some(libc::EPERM as u32),
            args: vec![],
        }],
    }
}

/// Load a compiled filter into the calling thread (and, with TSYNC semantics
/// unneeded since we are single-threaded, into the process).
///
/// The kernel accepts this only with `no_new_privs` set or CAP_SYS_ADMIN:
/// otherwise a filter could trick a setuid binary into misbehaving.
pub(crate) fn install(prog: &[libc::sock_filter]) -> std::io::Result<()> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points at `prog`, which is alive for the whole call; the
    // kernel copies the program before returning.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &fprog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SyscallRule;

    fn profile(default: SeccompAction, rules: Vec<SyscallRule>) -> Seccomp {
        Seccomp {
            default_action: default,
            default_errno_ret: None,
            architectures: vec!["SCMP_ARCH_X86_64".into()],
            syscalls: rules,
        }
    }

    fn rule(names: &[&str], action: SeccompAction, errno: Option<u32>) -> SyscallRule {
        SyscallRule {
            names: names.iter().map(|n| n.to_string()).collect(),
            action,
            errno_ret: errno,
            args: vec![],
        }
    }

    /// Run the compiled program the way the kernel would, for one syscall.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let i = prog[pc];
            match i.code {
                BPF_LD_W_ABS => acc = if i.k == 0 { nr } else { arch },
                BPF_JEQ_K => pc += if acc == i.k { i.jt } else { i.jf } as usize,
                BPF_JGE_K => pc += if acc >= i.k { i.jt } else { i.jf } as usize,
                BPF_RET_K => return i.k,
                other => panic!("unexpected opcode {other}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn first_matching_rule_wins_and_default_applies() {
        let p = profile(
            SeccompAction::Allow,
            vec![
                rule(&["mkdir", "mkdirat"], SeccompAction::Errno, Some(1)),
                rule(&["mkdir"], SeccompAction::KillProcess, None),
                rule(&["reboot"], SeccompAction::Kill, None),
            ],
        );
        let prog = compile(&p).unwrap();
        let nr = |n| syscall_number(n).unwrap() as u32;
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, nr("mkdir")),
            SECCOMP_RET_ERRNO | 1
        );
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, nr("mkdirat")),
            SECCOMP_RET_ERRNO | 1
        );
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, nr("reboot")),
            SECCOMP_RET_KILL_THREAD
        );
        assert_eq!(run(&prog, AUDIT_ARCH_X86_64, nr("read")), SECCOMP_RET_ALLOW);
        // i386 entry point and x32 numbers are killed, not looked up.
        assert_eq!(run(&prog, 0x4000_0003, 0), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 2),
            SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn refuses_what_it_cannot_compile() {
        let p = profile(
            SeccompAction::Allow,
            vec![rule(&["frobnicate"], SeccompAction::Kill, None)],
        );
        assert_eq!(
            compile(&p).err(),
            Some(SeccompError::UnknownSyscall("frobnicate".into()))
        );
        let mut r = rule(&["personality"], SeccompAction::Allow, None);
        r.args = vec![serde_json::json!({"index": 0, "value": 0, "op": "SCMP_CMP_EQ"})];
        let p = profile(SeccompAction::Errno, vec![r]);
        assert_eq!(
            compile(&p).err(),
            Some(SeccompError::ArgsUnsupported("personality".into()))
        );
    }

    #[test]
    fn default_profile_compiles_and_denies_reboot_only_with_eperm() {
        let prog = compile(&default_profile()).unwrap();
        let nr = |n| syscall_number(n).unwrap() as u32;
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, nr("reboot")),
            SECCOMP_RET_ERRNO | libc::EPERM as u32
        );
        assert_eq!(
            run(&prog, AUDIT_ARCH_X86_64, nr("clone")),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn table_has_the_numbers_of_x86_64() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("execve"), Some(59));
        assert_eq!(syscall_number("pivot_root"), Some(155));
        assert_eq!(syscall_number("mseal"), Some(462));
        // Names only: a number or another architecture's name is unknown.
        assert_eq!(syscall_number("59"), None);
        assert_eq!(syscall_number("socketcall"), None);
    }

    #[test]
    fn an_unknown_name_says_which_table_orc_knows() {
        assert_eq!(syscall_number("frobnicate"), None);
        assert_eq!(
            SeccompError::UnknownSyscall("frobnicate".into()).to_string(),
            "unknown syscall `frobnicate` (orc knows the x86_64 table only)"
        );
    }
}
