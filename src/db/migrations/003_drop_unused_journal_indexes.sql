-- No query reads the journal through these indexes (member history goes through
-- postings(member_id); verification scans whole tables), yet every purchase paid to maintain
-- them: four index entries of about twenty-five. Add an index back with the query that needs it.
drop index if exists postings_entry;
drop index if exists journal_entries_member;
drop index if exists journal_entries_program;
