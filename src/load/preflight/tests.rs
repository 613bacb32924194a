//! The preflight's model: `estimate` and its verdict on hosts and runs
//! written out here (no /proc).

use super::*;

/// This machine, roughly: 23 GiB available, the default file-max.
const HOST: Host = Host {
    mem_available: 23 << 30,
    file_max: 2_466_174,
    files_open: 2_000,
    nofile: 20_000,
};

fn here(conns: u64, generators: u64) -> Estimate {
    here_on(HOST, conns, generators)
}

fn here_on(host: Host, conns: u64, generators: u64) -> Estimate {
    estimate(
        Run {
            conns,
            generators,
            target_here: true,
        },
        host,
    )
}

#[test]
fn a_loopback_run_counts_both_ends() {
    let e = here(1_000_000, 67);
    assert_eq!(e.sockets, 2_000_000);
    assert_eq!(e.servers, 51, "1M over 19,968 descriptors each");
    assert_eq!(e.kernel, 2_000_000 * KERNEL_BYTES_PER_SOCKET);
    assert_eq!(e.generator, 150_000_000 + 67 * PROCESS_BYTES);
    assert_eq!(e.server, 150_000_000 + 51 * PROCESS_BYTES);
    assert_eq!(e.total, e.kernel + e.generator + e.server);
    assert_eq!(e.files_needed, 2_000_000 + 118 * FD_RESERVE);
    assert!(e.fits(), "{e}");
}

#[test]
fn a_remote_target_counts_only_this_side() {
    let e = estimate(
        Run {
            conns: 1_000_000,
            generators: 67,
            target_here: false,
        },
        HOST,
    );
    assert_eq!((e.sockets, e.servers, e.server), (1_000_000, 0, 0));
    assert_eq!(e.total, e.kernel + e.generator);
}

#[test]
fn memory_beyond_the_usable_share_is_refused() {
    // 2M loopback connections: 4M sockets, about 20 GB of kernel memory
    // (with file-max raised, as hold.sh does: memory is the limit).
    let host = Host {
        file_max: 10_000_000,
        ..HOST
    };
    let e = here_on(host, 2_000_000, 134);
    assert!(e.total > e.usable && e.files_needed <= e.files_free, "{e}");
    assert!(!e.fits());
    let most = e.most_that_fit();
    let fits = |conns| here_on(host, conns, 134).fits();
    assert!(fits(most) && !fits(most + 1), "{most}");
    assert!((1_500_000..2_000_000).contains(&most), "{most}");
    let text = e.to_string();
    assert!(text.contains("does not fit"), "{text}");
    assert!(text.contains("4000000 sockets x 5120 B"), "{text}");
    assert!(text.contains("over       memory"), "{text}");
    assert!(!text.contains("over       files"), "{text}");
    assert!(
        text.contains(&format!("at most    {most} connections")),
        "{text}"
    );
    assert_eq!(e.most_for_memory(), most);
    // With the default file-max, the file table runs out first.
    assert_eq!(here(2_000_000, 134).most_that_fit(), 1_228_951);
}

#[test]
fn files_beyond_file_max_are_refused_even_with_memory_to_spare() {
    let roomy = Host {
        mem_available: 1 << 40,
        ..HOST
    };
    let e = estimate(
        Run {
            conns: 1_300_000,
            generators: 87,
            target_here: true,
        },
        roomy,
    );
    assert!(e.total <= e.usable && e.files_needed > e.files_free, "{e}");
    assert!(!e.fits());
    assert!(e.to_string().contains("raise fs.file-max"), "{e}");
}

#[test]
fn a_small_run_fits_and_says_so() {
    let e = here(10, 1);
    assert!(e.fits());
    assert!(e.to_string().contains(": fits"), "{e}");
}

/// The model's user-space figure holds the generator's connection: its
/// slab entry plus one `--depth` send-time slot (issue 15: an idle
/// connection costs at most 150 B on each side).
#[test]
fn a_generator_connection_fits_the_models_bytes() {
    let entry = std::mem::size_of::<super::super::table::Entry>();
    let per_conn = entry + std::mem::size_of::<u64>();
    assert!(
        per_conn as u64 <= USER_BYTES_PER_CONN,
        "slab entry {entry} B + one send-time slot = {per_conn} B"
    );
}
