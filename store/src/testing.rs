//! For tests of code that uses a store: throwaway PostgreSQL databases on
//! the cluster the test command starts (`RULEHOST_TEST_DATABASE_URL`).

/// The test cluster's URL; a clear failure if the tests were not started
/// by the test command.
pub fn cluster_url() -> String {
    std::env::var("RULEHOST_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "RULEHOST_TEST_DATABASE_URL is not set: run the tests with `bash scripts/test`, which starts a \
             throwaway PostgreSQL and sets it"
        )
    })
}

/// Runs `work` with a connection to the database at `url`.
fn with_client<T>(url: &str, work: impl AsyncFnOnce(&tokio_postgres::Client) -> T) -> T {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the test cluster answers");
        let running = tokio::spawn(connection);
        let answer = work(&client).await;
        drop(client);
        let _ = running.await;
        answer
    })
}

/// Runs `sql` on the database at `url`.
pub fn execute(url: &str, sql: &str) {
    with_client(url, async |client| {
        client.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
}

/// The number `sql` (one row, one `bigint` column) answers on the database
/// at `url`.
pub fn count(url: &str, sql: &str) -> i64 {
    with_client(url, async |client| {
        client
            .query_one(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    })
}

/// The text values `sql` (one `text` column) answers on the database at
/// `url`, in order.
pub fn texts(url: &str, sql: &str) -> Vec<String> {
    with_client(url, async |client| {
        client
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| row.get(0))
            .collect()
    })
}

/// A new database on the cluster: its URL and name.
pub fn fresh_database(prefix: &str) -> (String, String) {
    let admin = cluster_url();
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).expect("randomness");
    let name = format!("{prefix}_{}", hex::encode(suffix));
    execute(&admin, &format!("CREATE DATABASE {name}"));
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base);
    (format!("{base}/{name}"), name)
}

/// Drops a database made by [`fresh_database`], connections and all.
pub fn drop_database(name: &str) {
    execute(&cluster_url(), &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
