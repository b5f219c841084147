//! The stateless job server, run in a child process.

use super::*;

pub(crate) fn serve() {
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_reuseaddr(true).expect("reuseaddr");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind 127.0.0.1");
        // A deep accept queue for the burst scenario (capped by net.core.somaxconn).
        let listener = socket.listen(8192).expect("listen");
        let port = listener.local_addr().expect("addr").port();
        println!("PORT {port}");
        // Exit when the parent closes our stdin (or dies).
        std::thread::spawn(|| {
            let mut sink = String::new();
            while std::io::stdin()
                .read_line(&mut sink)
                .map(|n| n > 0)
                .unwrap_or(false)
            {}
            std::process::exit(0);
        });
        let app = axum::Router::new().route(
            "/v1/jobs/{job_id}/status",
            axum::routing::get(
                |axum::extract::Path(job_id): axum::extract::Path<String>| async move {
                    use axum::http::{StatusCode, header};
                    let Ok(id) = job_id.parse::<Uuid>() else {
                        return (
                            StatusCode::BAD_REQUEST,
                            [(header::CONTENT_TYPE, "application/json")],
                            r#"{"error":"400","message":"Bad Request"}"#.to_owned(),
                        );
                    };
                    let due = u64::try_from(id.as_u128() >> 64).unwrap_or(u64::MAX);
                    let status = if unix_ms() >= due {
                        "COMPLETED"
                    } else {
                        "RUNNING"
                    };
                    (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        format!(
                            r#"{{"jobId":"{id}","jobType":"SCHEMA_REFRESH","status":"{status}"}}"#
                        ),
                    )
                },
            ),
        );
        axum::serve(listener, app).await.expect("serve");
    });
}

// ---------------------------------------------------------------------------------------
// Measurement shared by the real and virtual runs.
