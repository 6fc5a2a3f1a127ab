/*
 * sqlite: a real program (SQLite, linked from the system's libsqlite3) timed
 * whole. An in-memory database (no disk I/O) so that the time goes into
 * SQLite itself and its allocations: page cache, B-tree cursors, prepared
 * statements, strings and sorter memory.
 *
 *   1. Two tables with three secondary indexes; `customers` rows are inserted,
 *      then `rows` orders with random text notes, in transactions of 1000,
 *      through prepared statements.
 *   2. Queries: grouped aggregates, a join with ORDER BY and LIMIT, LIKE
 *      scans, a subquery, a sort of the whole table, a CREATE TABLE AS
 *      SELECT; then UPDATE of 10 % and DELETE of 5 % of the orders, an index
 *      rebuild (REINDEX) and the aggregates again. Everything is repeated
 *      `rounds` times on a fresh database.
 * Every result row goes into the checksum (SQLite's output is deterministic:
 * no random(), no dates).
 */
#include <sqlite3.h>

#include "common.h"

BENCH_MAIN_DEFS

static sqlite3 *db;

static void die(const char *what) {
  fprintf(stderr, "sqlite: %s: %s\n", what, sqlite3_errmsg(db));
  exit(5);
}

static void exec(const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
    fprintf(stderr, "sqlite: %s\n  in: %s\n", err ? err : "?", sql);
    exit(5);
  }
}

/* Runs a query and hashes every column of every row as text. */
static uint64_t query(const char *sql, uint64_t h, long *rows) {
  sqlite3_stmt *st;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) die(sql);
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int nc = sqlite3_column_count(st);
    for (int c = 0; c < nc; c++) {
      const unsigned char *t = sqlite3_column_text(st, c);
      int len = sqlite3_column_bytes(st, c);
      h = bench_fnv(h, t ? (const void *)t : (const void *)"NULL", t ? (size_t)len : 4);
      h = bench_fnv(h, "|", 1);
    }
    (*rows)++;
  }
  if (rc != SQLITE_DONE) die(sql);
  sqlite3_finalize(st);
  return h;
}

static const char *const kWords[] = {
    "alpha", "bravo",  "charlie", "delta",  "echo",   "foxtrot", "golf",     "hotel",
    "india", "juliet", "kilo",    "lima",   "mike",   "november", "oscar",   "papa",
    "quebec", "romeo", "sierra",  "tango",  "uniform", "victor", "whiskey",  "xray",
    "yankee", "zulu",  "express", "priority", "fragile", "return", "gift",   "bulk"};
static const char *const kCities[] = {"Lisbon", "Oslo",   "Kyoto", "Quito",  "Accra",
                                      "Perth",  "Tbilisi", "Lima", "Hanoi", "Dakar",
                                      "Bergen", "Malmo",  "Cusco", "Nairobi", "Tromso"};

static void random_text(rng_t *r, char *buf, int words) {
  buf[0] = 0;
  size_t n = 0;
  for (int i = 0; i < words; i++) {
    const char *w = kWords[rng_below(r, 32)];
    size_t l = strlen(w);
    if (i) buf[n++] = ' ';
    memcpy(buf + n, w, l);
    n += l;
  }
  buf[n] = 0;
}

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"rows", 5000, 100000, "orders inserted per round", 0},
      {"customers", 500, 10000, "customers inserted per round", 0},
      {"rounds", 1, 1, "fresh databases built and queried", 0},
      {"seed", 23, 23, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("sqlite", "SQLite in-memory: inserts with indexes, queries, updates, deletes", ps,
               np, argc, argv);
  long rows = bench_get(ps, np, "rows");
  long customers = bench_get(ps, np, "customers");
  long rounds = bench_get(ps, np, "rounds");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  if (customers < 1 || rows < 1) {
    fprintf(stderr, "sqlite: bad parameters\n");
    return 2;
  }

  uint64_t h = 0;
  long nrows = 0;
  char text[1024];
  double t0 = bench_now();
  for (long round = 0; round < rounds; round++) {
    if (sqlite3_open(":memory:", &db) != SQLITE_OK) die("open");
    exec("PRAGMA cache_size=-65536;");
    exec("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT "
         "NULL, score INTEGER NOT NULL);"
         "CREATE TABLE orders(id INTEGER PRIMARY KEY, customer INTEGER NOT NULL, item TEXT NOT "
         "NULL, qty INTEGER NOT NULL, price INTEGER NOT NULL, note TEXT);"
         "CREATE INDEX customers_city ON customers(city, name);"
         "CREATE INDEX orders_customer ON orders(customer);"
         "CREATE INDEX orders_item_price ON orders(item, price);");

    sqlite3_stmt *ins_c, *ins_o;
    if (sqlite3_prepare_v2(db, "INSERT INTO customers(name, city, score) VALUES(?1, ?2, ?3)", -1,
                           &ins_c, NULL) != SQLITE_OK)
      die("prepare customers");
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO orders(customer, item, qty, price, note) "
                           "VALUES(?1, ?2, ?3, ?4, ?5)",
                           -1, &ins_o, NULL) != SQLITE_OK)
      die("prepare orders");
    exec("BEGIN");
    for (long i = 0; i < customers; i++) {
      random_text(&rng, text, 2);
      sqlite3_bind_text(ins_c, 1, text, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(ins_c, 2, kCities[rng_below(&rng, 15)], -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins_c, 3, (sqlite3_int64)rng_below(&rng, 1000));
      if (sqlite3_step(ins_c) != SQLITE_DONE) die("insert customer");
      sqlite3_reset(ins_c);
    }
    exec("COMMIT");
    for (long i = 0; i < rows; i++) {
      if (i % 1000 == 0) exec("BEGIN");
      sqlite3_bind_int64(ins_o, 1, (sqlite3_int64)rng_range(&rng, 1, (uint64_t)customers));
      sqlite3_bind_text(ins_o, 2, kWords[rng_below(&rng, 32)], -1, SQLITE_STATIC);
      sqlite3_bind_int64(ins_o, 3, (sqlite3_int64)rng_range(&rng, 1, 20));
      sqlite3_bind_int64(ins_o, 4, (sqlite3_int64)rng_range(&rng, 100, 100000));
      random_text(&rng, text, (int)rng_range(&rng, 1, 30));
      sqlite3_bind_text(ins_o, 5, text, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(ins_o) != SQLITE_DONE) die("insert order");
      sqlite3_reset(ins_o);
      if (i % 1000 == 999 || i == rows - 1) exec("COMMIT");
    }
    sqlite3_finalize(ins_c);
    sqlite3_finalize(ins_o);

    const char *queries[] = {
        "SELECT city, count(*), sum(score), min(name), max(name) FROM customers GROUP BY city "
        "ORDER BY city",
        "SELECT item, count(*), sum(qty*price), avg(price) FROM orders GROUP BY item ORDER BY 3 "
        "DESC",
        "SELECT c.city, o.item, sum(o.qty) AS q FROM orders o JOIN customers c ON c.id = "
        "o.customer GROUP BY c.city, o.item ORDER BY q DESC, c.city, o.item LIMIT 50",
        "SELECT count(*), sum(length(note)) FROM orders WHERE note LIKE '%zulu%express%'",
        "SELECT id, customer, price FROM orders WHERE item = 'kilo' AND price BETWEEN 5000 AND "
        "6000 ORDER BY price, id",
        "SELECT name, score FROM customers WHERE id IN (SELECT customer FROM orders GROUP BY "
        "customer HAVING count(*) > 14) ORDER BY score DESC, name LIMIT 100",
        "SELECT note, id FROM orders ORDER BY note, id LIMIT 20 OFFSET 1000",
        "SELECT group_concat(item, ','), customer FROM (SELECT item, customer FROM orders "
        "WHERE customer % 97 = 0 ORDER BY id) GROUP BY customer ORDER BY customer",
    };
    const int nq = (int)(sizeof queries / sizeof queries[0]);
    for (int q = 0; q < nq; q++) h = query(queries[q], h, &nrows);
    exec("CREATE TABLE summary AS SELECT customer, count(*) AS n, sum(qty*price) AS total, "
         "group_concat(item, ' ') AS items FROM orders GROUP BY customer");
    h = query("SELECT sum(n), sum(total), sum(length(items)) FROM summary", h, &nrows);
    exec("BEGIN;"
         "UPDATE orders SET note = note || ' (amended ' || id || ')', price = price + 1 "
         "WHERE id % 10 = 3;"
         "DELETE FROM orders WHERE id % 20 = 7;"
         "COMMIT;"
         "REINDEX;");
    for (int q = 1; q < 4; q++) h = query(queries[q], h, &nrows);
    h = query("SELECT count(*), sum(price), sum(length(note)) FROM orders", h, &nrows);
    sqlite3_close(db);
  }
  double t1 = bench_now();
  printf("result_rows=%ld sqlite_version=%s\n", nrows, sqlite3_libversion());
  return bench_finish(h, t1 - t0);
}
