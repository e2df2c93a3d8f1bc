//! CPU and memory of this machine, from `/proc` (Linux).

use std::time::Duration;

/// (total, used, available) memory in bytes, from `/proc/meminfo`.
pub fn memory() -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kib| kib * 1024)
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    Some((total, total.saturating_sub(available), available))
}

/// (busy, total) jiffies since boot, from the `cpu` line of `/proc/stat`.
fn cpu_times() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// CPU use (percent of all cores) over `window`.
pub fn cpu_percent(window: Duration) -> Option<f64> {
    let (busy1, total1) = cpu_times()?;
    std::thread::sleep(window);
    let (busy2, total2) = cpu_times()?;
    let total = total2.saturating_sub(total1);
    (total > 0).then(|| 100.0 * busy2.saturating_sub(busy1) as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn proc_gives_memory_and_cpu() {
        let (total, used, available) = super::memory().unwrap();
        assert!(total > 0 && used <= total && available <= total);
        let cpu = super::cpu_percent(std::time::Duration::from_millis(50)).unwrap();
        assert!((0.0..=100.0).contains(&cpu));
    }
}
