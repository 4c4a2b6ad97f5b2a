DROP TABLE placement_jobs;

--bun:split

DROP TABLE orders;
