//! The process metrics Prometheus' client libraries export (`process_*`), and the build's
//! identity, appended to the exposition. Read from `/proc/self` on Linux; elsewhere the
//! process metrics are left out.

use std::fmt::Write as _;

/// `{prefix}_build_info{version="…"} 1`.
pub(crate) fn build_info(prefix: &str, out: &mut String) {
    let name = format!("{prefix}_build_info");
    let _ = writeln!(
        out,
        "# HELP {name} The running build: its version, as a label.\n# TYPE {name} gauge\n{name}{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    );
}

/// `process_resident_memory_bytes`, `process_virtual_memory_bytes`, `process_open_fds`,
/// `process_cpu_seconds_total`, `process_start_time_seconds`.
pub(crate) fn process_metrics(out: &mut String) {
    #[cfg(target_os = "linux")]
    if let Some(p) = linux::read() {
        let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        metric(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident,
        );
        metric(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_memory,
        );
        metric(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds,
        );
        metric(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        );
        metric(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = out;
}

#[cfg(target_os = "linux")]
mod linux {
    /// What `/proc` says of this process.
    pub(super) struct Process {
        pub(super) resident: f64,
        pub(super) virtual_memory: f64,
        pub(super) open_fds: f64,
        pub(super) cpu_seconds: f64,
        pub(super) start_time: f64,
    }

    /// Clock ticks per second in which `/proc/self/stat` counts CPU time (`USER_HZ`, 100 on
    /// every Linux architecture that runs this).
    const TICKS: f64 = 100.0;

    /// A `kB` line of `/proc/self/status`, in bytes.
    fn status_bytes(status: &str, key: &str) -> Option<f64> {
        let line = status.lines().find_map(|l| l.strip_prefix(key))?;
        let kib: f64 = line.split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024.0)
    }

    pub(super) fn read() -> Option<Process> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<f64>().ok());
        let (utime, stime, start) = (field(14)?, field(15)?, field(22)?);
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
        Some(Process {
            resident: status_bytes(&status, "VmRSS:")?,
            virtual_memory: status_bytes(&status, "VmSize:")?,
            open_fds,
            cpu_seconds: (utime + stime) / TICKS,
            start_time: boot + start / TICKS,
        })
    }
}
