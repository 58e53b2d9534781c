//! Running a module's engine tests on both databases.

/// Each named test `async fn NAME(engine, clock)` of the calling module runs
/// on SQLite (a file) and on PostgreSQL (a new database), with the module's
/// `T0` on a virtual clock.
macro_rules! on_both {
    ($prefix:literal; $($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::store::TestDb::sqlite(concat!($prefix, "_", stringify!($name))).await;
                    let clock = std::sync::Arc::new(ravand_engine::time::VirtualClock::new(super::T0));
                    let e = ravand_engine::engine::Engine::open(&db.url, clock.clone(), 5).await.expect("engine");
                    super::$name(e, clock).await;
                    db.drop().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::store::TestDb::postgres(concat!($prefix, "_", stringify!($name))).await;
                    let clock = std::sync::Arc::new(ravand_engine::time::VirtualClock::new(super::T0));
                    let e = ravand_engine::engine::Engine::open(&db.url, clock.clone(), 5).await.expect("engine");
                    super::$name(e, clock).await;
                    db.drop().await;
                }
            )*
        }
    };
}

/// Each named test `async fn NAME(url: &str)` of the calling module runs on
/// a fresh SQLite file and a fresh PostgreSQL database, given as its URL.
macro_rules! on_both_urls {
    ($prefix:literal; $($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::store::TestDb::sqlite(concat!($prefix, "_", stringify!($name))).await;
                    super::$name(&db.url).await;
                    db.drop().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = crate::store::TestDb::postgres(concat!($prefix, "_", stringify!($name))).await;
                    super::$name(&db.url).await;
                    db.drop().await;
                }
            )*
        }
    };
}
