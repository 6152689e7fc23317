//! The process's peak memory, from Linux's `/proc`: the figure that decides a Lambda's size.

/// Peak resident set size (`VmHWM`) since start or the last [`reset_peak`], in bytes.
/// `None` where `/proc` does not tell.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the peak to the current resident size, so that the next phase is measured alone.
pub fn reset_peak() {
    // Writing 5 to clear_refs resets VmHWM (Linux 4.0+); elsewhere the peak is cumulative.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measurement runs alone, in a child process: in the test binary, other tests allocate
    /// and free while it measures, and a peak reset then sees their memory come and go.
    #[test]
    fn peak_grows_with_allocation() {
        const ALONE: &str = "HYDRANT_MEMORY_TEST_ALONE";
        if std::env::var_os(ALONE).is_none() {
            let output = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "memory::tests::peak_grows_with_allocation",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(ALONE, "1")
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return;
        }
        reset_peak();
        let before = peak_rss_bytes().unwrap();
        // Written, not only reserved: every page is resident.
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before + (60 << 20), "{before} -> {after}");
    }
}
