-- FSMA 204 describes a location by business name, phone number and physical address with its
-- country (21 CFR 1.1310): a site carries the two it lacked.
alter table sites add column phone text not null default '',
                  add column country text constraint sites_country_check check (country ~ '^[A-Z]{2}$');
