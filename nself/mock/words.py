"""Word lists for mock values: a snapshot of Faker's en_US data (Faker 40.x), kept here so that
`--seed` gives the same rows whatever Faker version is installed. Generated once; edit freely."""

FIRST_NAMES = tuple("""
Aaron Abigail Adam Adrian Adriana Adrienne Aimee Alan Albert Alec Alejandra Alejandro
Alex Alexa Alexander Alexandra Alexandria Alexis Alfred Alice Alicia Alisha Alison Allen
Allison Alvin Alyssa Amanda Amber Amy Ana Andre Andrea Andres Andrew Angel Angela
Angelica Angie Anita Ann Anna Anne Annette Anthony Antonio April Ariana Ariel Arthur
Ashlee Ashley Audrey Austin Autumn Bailey Barbara Barry Becky Belinda Benjamin Bernard
Beth Bethany Betty Beverly Bianca Bill Billy Blake Bob Bobby Bonnie Brad Bradley Brady
Brandi Brandon Brandy Breanna Brenda Brendan Brent Brett Brian Briana Brianna Bridget
Brittany Brittney Brooke Bruce Bryan Bryce Caitlin Caitlyn Caleb Calvin Cameron Candace
Candice Carl Carla Carlos Carly Carmen Carol Caroline Carolyn Carrie Casey Cassandra
Cassidy Cassie Catherine Cathy Cesar Chad Charlene Charles Charlotte Chase Chelsea
Chelsey Cheryl Cheyenne Chloe Chris Christian Christie Christina Christine Christopher
Christy Cindy Claire Clarence Claudia Clayton Clifford Clinton Cody Cole Colin Colleen
Collin Colton Connie Connor Corey Cory Courtney Craig Cristian Cristina Crystal Curtis
Cynthia Daisy Dakota Dale Dalton Damon Dan Dana Daniel Danielle Danny Darin Darius
Darlene Darrell Darren Darryl Daryl Dave David Dawn Dean Deanna Debbie Deborah Debra
Denise Dennis Derek Derrick Desiree Destiny Devin Devon Diamond Diana Diane Dillon
Dominic Dominique Don Donald Donna Doris Dorothy Douglas Drew Duane Dustin Dwayne Dylan
Earl Ebony Eddie Edgar Eduardo Edward Edwin Eileen Elaine Elijah Elizabeth Ellen Emily
Emma Eric Erica Erik Erika Erin Ernest Ethan Eugene Evan Evelyn Faith Felicia Fernando
Frances Francis Francisco Frank Franklin Fred Frederick Gabriel Gabriela Gabriella
Gabrielle Gail Garrett Gary Gavin Gene Geoffrey George Gerald Gilbert Gina Glen Glenda
Glenn Gloria Gordon Grace Grant Greg Gregg Gregory Guy Gwendolyn Hailey Haley Hannah
Harold Harry Hayden Hayley Heather Hector Heidi Helen Henry Herbert Holly Howard Hunter
Ian Isaac Isabel Isabella Isaiah Ivan Jack Jackie Jackson Jaclyn Jacob Jacqueline Jade
Jaime Jake James Jamie Jane Janet Janice Jared Jasmin Jasmine Jason Javier Jay Jean
Jeanette Jeanne Jeff Jeffery Jeffrey Jenna Jennifer Jenny Jeremiah Jeremy Jermaine
Jerome Jerry Jesse Jessica Jesus Jill Jillian Jim Jimmy Jo Joan Joann Joanna Joanne
Jocelyn Jodi Jody Joe Joel John Johnathan Johnny Jon Jonathan Jonathon Jordan Jorge Jose
Joseph Joshua Joy Joyce Juan Judith Judy Julia Julian Julie Justin Kaitlin Kaitlyn Kara
Karen Kari Karina Karl Karla Katelyn Katherine Kathleen Kathryn Kathy Katie Katrina
Kayla Kaylee Keith Kelli Kellie Kelly Kelsey Kendra Kenneth Kent Kerri Kerry Kevin Kiara
Kim Kimberly Kirk Kirsten Krista Kristen Kristi Kristie Kristin Kristina
""".split())

LAST_NAMES = tuple("""
Abbott Acevedo Acosta Adams Adkins Aguilar Aguirre Alexander Ali Allen Allison Alvarado
Alvarez Andersen Anderson Andrade Andrews Anthony Archer Arellano Arias Armstrong Arnold
Arroyo Ashley Atkins Atkinson Austin Avery Avila Ayala Ayers Bailey Baird Baker Baldwin
Ball Ballard Banks Barajas Barber Barker Barnes Barnett Barr Barrera Barrett Barron
Barry Bartlett Barton Bass Bates Bauer Bautista Baxter Bean Beard Beasley Beck Becker
Bell Beltran Bender Benitez Benjamin Bennett Benson Bentley Benton Berg Berger Bernard
Berry Best Bird Bishop Black Blackburn Blackwell Blair Blake Blanchard Blankenship
Blevins Bolton Bond Bonilla Booker Boone Booth Bowen Bowers Bowman Boyd Boyer Boyle
Bradford Bradley Bradshaw Brady Branch Brandt Braun Bray Brennan Brewer Bridges Briggs
Bright Brock Brooks Brown Browning Bruce Bryan Bryant Buchanan Buck Buckley Bullock
Burch Burgess Burke Burnett Burns Burton Bush Butler Byrd Cabrera Cain Calderon Caldwell
Calhoun Callahan Camacho Cameron Campbell Campos Cannon Cantrell Cantu Cardenas Carey
Carlson Carney Carpenter Carr Carrillo Carroll Carson Carter Case Casey Castaneda
Castillo Castro Cervantes Chambers Chan Chandler Chaney Chang Chapman Charles Chase
Chavez Chen Cherry Choi Christensen Christian Chung Church Cisneros Clark Clarke Clay
Clayton Clements Cline Cobb Cochran Coffey Cohen Cole Coleman Collier Collins Colon
Combs Compton Conley Conner Conrad Contreras Conway Cook Cooke Cooley Cooper Copeland
Cordova Cortez Costa Cowan Cox Craig Crane Crawford Crosby Cross Cruz Cuevas Cummings
Cunningham Curry Curtis Dalton Daniel Daniels Daugherty Davenport David Davidson Davies
Davila Davis Dawson Day Dean Decker Delacruz Deleon Delgado Dennis Diaz Dickerson
Dickson Dillon Dixon Dodson Dominguez Donaldson Donovan Dorsey Dougherty Douglas Downs
Doyle Drake Duarte Dudley Duffy Duke Duncan Dunlap Dunn Duran Durham Dyer Eaton Edwards
Elliott Ellis Ellison English Erickson Escobar Esparza Espinoza Estes Estrada Evans
Everett Ewing Farley Farmer Farrell Faulkner Ferguson Fernandez Ferrell Fields Figueroa
Finley Fischer Fisher Fitzgerald Fitzpatrick Fleming Fletcher Flores Flowers Floyd Flynn
Foley Forbes Ford Foster Fowler Fox Francis Franco Frank Franklin Frazier Frederick
Freeman French Frey Friedman Fritz Frost Fry Frye Fuentes Fuller Gaines Gallagher
Gallegos Galloway Galvan Gamble Garcia Gardner Garner Garrett Garrison Garza Gates Gay
Gentry George Gibbs Gibson Gilbert Giles Gill Gillespie Gilmore Glass Glenn Glover
Golden Gomez Gonzales Gonzalez Good Goodman Goodwin Gordon Gould Graham Grant Graves
Gray Green Greene Greer Gregory Griffin Griffith Grimes Gross Guerra Guerrero Gutierrez
Guzman Haas Hahn Hale Haley Hall Hamilton Hammond Hampton Hancock Haney Hanna Hansen
Hanson Hardin Harding Hardy Harmon Harper Harrell Harrington Harris Harrison Hart
Hartman Harvey Hatfield Hawkins Hayden Hayes Haynes Hays Heath Hebert Henderson
Hendricks Hendrix Henry Hensley Henson Herman Hernandez Herrera Herring Hess Hester
Hickman Hicks Higgins Hill Hines Hinton Ho Hobbs Hodge Hodges Hoffman Hogan Holden
Holder Holland Holloway Holmes Holt Hood Hooper Hoover Hopkins Horn Horne Horton House
Houston Howard Howe Howell Huang Hubbard Huber Hudson Huerta Huff Huffman Hughes Hull
Humphrey Hunt Hunter Hurley Hurst Hutchinson Huynh Ibarra Ingram Irwin Jackson Jacobs
Jacobson James Jarvis Jefferson Jenkins Jennings Jensen Jimenez Johns Johnson Johnston
Jones Jordan Joseph Joyce Juarez Kaiser Kane Kaufman Keith Keller Kelley Kelly Kemp
Kennedy Kent Kerr Key Khan Kidd Kim King Kirby Kirk
""".split())

WORDS = tuple("""
a ability able about above accept according account across act action activity actually
add address administration admit adult affect after again against age agency agent ago
agree agreement ahead air all allow almost alone along already also although always
American among amount analysis and animal another answer any anyone anything appear
apply approach area argue arm around arrive art article artist as ask assume at attack
attention attorney audience author authority available avoid away baby back bad bag ball
bank bar base be beat beautiful because become bed before begin behavior behind believe
benefit best better between beyond big bill billion bit black blood blue board body book
born both box boy break bring brother budget build building business but buy by call
camera campaign can candidate capital car card care career carry case catch cause cell
center central century certain certainly chair challenge chance change character charge
check child choice choose church citizen city civil claim class clear clearly close
coach cold collection college color commercial common community company compare computer
concern condition conference Congress consider consumer contain continue control cost
could country couple course court cover create crime cultural culture cup current
customer cut dark data daughter day deal debate decade decide decision deep defense
degree Democrat democratic describe design despite detail determine develop development
difference different difficult dinner direction director discover discuss discussion do
doctor dog door down draw dream drive drop drug during each early east easy eat economic
economy edge education effect effort eight either election else employee end energy
enjoy enough enter entire environment environmental especially establish even evening
event ever every everybody everyone everything evidence exactly example executive exist
expect experience expert explain eye face fact factor fall family far fast father fear
federal feel feeling few field fight figure fill film final finally financial find fine
finish fire firm first fish five floor fly focus follow food foot for force foreign
forget form former forward four free friend from front full fund future game garden gas
general generation get girl give glass go goal good government great green ground group
grow growth guess gun guy hair half hand happen happy hard have he head health hear
heart heavy help her here herself high him himself his history hit hold home hope
hospital hot hotel hour house how however huge human hundred husband I idea identify if
image imagine impact important improve in include including increase indeed indicate
individual industry information inside instead institution interest interesting
international interview into investment involve issue it item its itself job join just
keep key kid kind kitchen know knowledge land language large last late later laugh law
lawyer lay lead leader learn least leave left leg less let letter level life light like
likely line list listen little live local long look lose loss lot low machine magazine
main maintain major majority make man manage management manager many market marriage
material matter may maybe me mean measure media medical meet meeting member memory
mention message method middle might military million mind minute miss mission model
modern moment money month more morning most mother mouth move movement movie Mr Mrs much
music must my myself name nation national natural nature near nearly necessary need
network never new news newspaper next nice night no none nor north not note nothing
notice now number occur of off offer office officer official often oil ok old on once
one only onto open operation opportunity option or order organization other others our
out outside over own owner page painting paper parent part participant particular
particularly partner party pass past pattern pay peace people per perform performance
perhaps person personal phone physical pick picture piece place plan plant play player
PM point police policy political politics poor popular population position positive
possible power practice prepare present president pressure pretty prevent price probably
process produce product production professional professor program project property
protect prove provide public pull purpose push put quality question quickly quite race
radio raise range rate rather reach read ready real reality realize really reason
receive recent recently recognize record red reduce reflect region relate relationship
religious remain remember report represent Republican require research resource respond
response responsibility rest result return reveal rich right rise risk road rock role
room rule run safe same save say scene school science scientist score sea season seat
second section security see seek seem sell send senior sense series serious serve
service set seven several shake share she short should shoulder show side sign
significant similar simple simply since sing single sister sit site situation six size
skill skin small smile so social society soldier some somebody someone something
sometimes son song soon sort sound source south southern space speak special specific
speech spend sport spring staff stage stand standard star start state statement station
stay step still stock stop store story strategy street strong structure student study
stuff style subject success successful such suddenly suffer suggest summer support sure
surface system table take talk task tax teach teacher team technology television tell
ten tend term test than thank that the their them themselves then theory there these
they thing think third this those though thought thousand threat three through
throughout throw thus time to today together tonight too top total tough toward town
trade traditional training travel treat treatment tree trial trip trouble true truth try
turn TV two type under understand unit until up upon us use usually value various very
view visit voice vote wait walk wall want war watch water way we wear week weight well
west western what whatever when where whether which while white who whole whom whose why
wide wife will win wind window wish with within without woman wonder word work worker
world worry would write writer wrong yard yeah year yes yet you young your yourself
""".split())

EMAIL_DOMAINS = tuple("""
gmail.com yahoo.com hotmail.com example.com example.org example.net
""".split())

CITIES = tuple("""
North Kennethtown
North Patricktown
New David
Joshuaberg
Mikemouth
West Michael
Julieberg
East Heatherstad
Michelemouth
Ryanshire
South Katherinefurt
Smithshire
South Jenniferfort
North Grace
North James
West Christopher
Peterburgh
New Richardland
Davisport
South Austinhaven
Webbmouth
South Dakota
Shawville
Saraborough
Ashleymouth
Hortonborough
Lake Laura
Port Ashleyland
Juarezport
New Monica
Lake Keith
Robertfurt
Daughertychester
South Samanthashire
West Erikaburgh
New Kyleshire
Mcdonaldshire
Port Brian
Jeffreytown
Jonesside
Michaelport
Port Stephanieborough
East Jessicaland
North Deborahfurt
East Aliciamouth
Justinshire
Port Christopher
Turnerside
Smithfort
Danielsstad
Port Daniel
Kathrynville
Sheltonmouth
Alexanderhaven
Harrisland
Christopherfort
South Patriciastad
North Corey
Scottborough
West Shannonmouth
West Michaelton
Jennifershire
West Wandamouth
South Peterchester
New Samantha
Brianborough
Mcphersonshire
Holmeston
Lake Danielberg
East Kevin
Woodsfurt
New Gregoryville
Frankburgh
West Nicolefurt
West Rebeccaburgh
North Dianamouth
Sarafort
Port Justinfurt
Griffinburgh
Lake Christy
Johnsonmouth
Markside
Robertbury
New Danielside
East Darrell
Lake Samanthastad
West Mollyville
Mcdonaldview
Jonesville
Ellisonmouth
Allentown
Lake Jared
Port Douglas
South Tara
South Maryfurt
Lake Brendaberg
Danieltown
South Pamela
Lake Laurafort
Johnsonville
Smithchester
East Catherineton
Samuelstad
Timothychester
Jonesfort
East Vanessabury
East Robertmouth
North Michael
Mollyborough
East Nathanielport
Choiview
Hansenmouth
Gatesland
East Kristinehaven
Lake Maria
Lake Mariah
West Catherine
Virginiamouth
Christineborough
New Valerieshire
Port Jasminebury
East Melanieside
New Shannon
Meyerside
South Brian
East Aliciafort
New Janiceberg
New Sarah
New Nicole
Port Miguelside
Port Steven
Mcmillanbury
East Aprilfurt
Maddenbury
Sheilamouth
Brendanstad
West Paultown
Blackburnview
Cunninghamchester
North Richard
Wallacetown
Parksfort
Lake Leahborough
New Stephanieville
Codyside
South Danielside
Lake Ashley
Foxtown
New Loriville
North Benjaminborough
West Tonya
Johnsonfurt
North Melissatown
New Brandiview
Michaelbury
West Maryfort
Amyfurt
Port Jeffrey
New Joseport
North Keithton
Port Markview
Ballardbury
Lindseyborough
West Kevin
Craigside
Jacksonside
Adamschester
Parkburgh
South Nicole
Port Jenniferhaven
North Zacharyburgh
New Dylanton
Timothyton
Kimmouth
Michaelside
Jennifertown
Roberthaven
Terrytown
Lake Henryport
Tannerhaven
Port Susan
Williamsshire
Andrewfort
Richardfurt
Lake Erikland
South David
North Michellemouth
Nicoleshire
Port Hayleyside
Jenniferfort
Alexisborough
South Laurenburgh
Lake Jameshaven
Rickeyborough
New Donnaborough
Jessicaborough
Johnsonborough
South Martinchester
West Jamestown
South Lori
Rodriguezton
Port Sandra
West Daniel
Adkinsville
Parkerchester
Stevensberg
New Leslieshire
Port Aaron
New Thomas
North Dalton
South Amber
West Christopherchester
East Jordan
East Christopherside
Martineztown
Port Matthew
Feliciabury
Toddmouth
Thomastown
Lake Jeremy
South Michael
Wolfemouth
Chandlerchester
West Alicia
Haynesview
North Melissaland
East Eric
Donovanbury
Christinehaven
New Melissaburgh
East Monica
Harmonton
West Jose
South Cheryl
Lake Christophermouth
Port Peter
New Dennisburgh
Port Andreaport
Denisechester
Larrystad
Pricemouth
North Emilytown
Tinamouth
Deckerport
Hallview
Tinaview
Audreyport
East Jared
New Joseph
Smithview
Anthonyhaven
Williammouth
Stricklandmouth
Gonzalezshire
Elliottmouth
South Christopher
Jonathanland
West Michaelside
North Andrewview
South Emilymouth
Emilytown
South Brett
Meganside
Angelaport
Westville
Franklinville
Cathyside
Karinabury
Port Dylanfurt
Jamesland
East Nancy
Harryport
South Samanthabury
North Williamborough
North Christopher
Port Brianberg
Berryborough
East Susanstad
Owensmouth
Francisview
Potterberg
East Mary
West Sandra
New Dan
Angelaborough
New Catherine
Lake Cesar
Kristenmouth
Janetstad
Port Evelyn
West Suzanne
East Joshuachester
Meghanberg
West Melissamouth
North Ashley
North Rickyfort
South Patricia
Ginaton
Barberview
New Kristina
""".strip().splitlines())

COUNTRIES = tuple("""
Afghanistan
Albania
Algeria
American Samoa
Andorra
Angola
Anguilla
Antarctica (the territory South of 60 deg S)
Antigua and Barbuda
Argentina
Armenia
Aruba
Australia
Austria
Azerbaijan
Bahamas
Bahrain
Bangladesh
Barbados
Belarus
Belgium
Belize
Benin
Bermuda
Bhutan
Bolivia
Bosnia and Herzegovina
Botswana
Bouvet Island (Bouvetoya)
Brazil
British Indian Ocean Territory (Chagos Archipelago)
British Virgin Islands
Brunei Darussalam
Bulgaria
Burkina Faso
Burundi
Cambodia
Cameroon
Canada
Cape Verde
Cayman Islands
Central African Republic
Chad
Chile
China
Christmas Island
Cocos (Keeling) Islands
Colombia
Comoros
Congo
Cook Islands
Costa Rica
Cote d'Ivoire
Croatia
Cuba
Cyprus
Czech Republic
Denmark
Djibouti
Dominica
Dominican Republic
Ecuador
Egypt
El Salvador
Equatorial Guinea
Eritrea
Estonia
Ethiopia
Faroe Islands
Falkland Islands (Malvinas)
Fiji
Finland
France
French Guiana
French Polynesia
French Southern Territories
Gabon
Gambia
Georgia
Germany
Ghana
Gibraltar
Greece
Greenland
Grenada
Guadeloupe
Guam
Guatemala
Guernsey
Guinea
Guinea-Bissau
Guyana
Haiti
Heard Island and McDonald Islands
Holy See (Vatican City State)
Honduras
Hong Kong
Hungary
Iceland
India
Indonesia
Iran
Iraq
Ireland
Isle of Man
Israel
Italy
Jamaica
Japan
Jersey
Jordan
Kazakhstan
Kenya
Kiribati
Korea
Kuwait
Kyrgyz Republic
Lao People's Democratic Republic
Latvia
Lebanon
Lesotho
Liberia
Libyan Arab Jamahiriya
Liechtenstein
Lithuania
Luxembourg
Macao
Madagascar
Malawi
Malaysia
Maldives
Mali
Malta
Marshall Islands
Martinique
Mauritania
Mauritius
Mayotte
Mexico
Micronesia
Moldova
Monaco
Mongolia
Montenegro
Montserrat
Morocco
Mozambique
Myanmar
Namibia
Nauru
Nepal
Netherlands Antilles
Netherlands
New Caledonia
New Zealand
Nicaragua
Niger
Nigeria
Niue
Norfolk Island
North Macedonia
Northern Mariana Islands
Norway
Oman
Pakistan
Palau
Palestinian Territory
Panama
Papua New Guinea
Paraguay
Peru
Philippines
Pitcairn Islands
Poland
Portugal
Puerto Rico
Qatar
Reunion
Romania
Russian Federation
Rwanda
Saint Barthelemy
Saint Helena
Saint Kitts and Nevis
Saint Lucia
Saint Martin
Saint Pierre and Miquelon
Saint Vincent and the Grenadines
Samoa
San Marino
Sao Tome and Principe
Saudi Arabia
Senegal
Serbia
Seychelles
Sierra Leone
Singapore
Slovakia (Slovak Republic)
Slovenia
Solomon Islands
Somalia
South Africa
South Georgia and the South Sandwich Islands
Spain
Sri Lanka
Sudan
Suriname
Svalbard & Jan Mayen Islands
Swaziland
Sweden
Switzerland
Syrian Arab Republic
Taiwan
Tajikistan
Tanzania
Thailand
Timor-Leste
Togo
Tokelau
Tonga
Trinidad and Tobago
Tunisia
Turkey
Turkmenistan
Turks and Caicos Islands
Tuvalu
Uganda
Ukraine
United Arab Emirates
United Kingdom
United States of America
United States Minor Outlying Islands
United States Virgin Islands
Uruguay
Uzbekistan
Vanuatu
Venezuela
Vietnam
Wallis and Futuna
Western Sahara
Yemen
Zambia
Zimbabwe
""".strip().splitlines())

STREETS = tuple("""
Shannon Rapids
Brittany View
Kimberly Street
Samuel Mountains
Flores Circle
Richard Circles
Austin Views
Merritt Square
Julia Villages
Shelly Brook
Mark Landing
Ayala Gardens
Abigail Canyon
Mary Creek
Evans Spring
Ann Rapids
Daniel Views
Ronald Island
Dale Trafficway
Robinson Hills
Cortez Manor
Hudson Groves
Monica Brook
Hale Mountain
James Way
Christopher Harbors
Robinson Parks
Melinda Turnpike
Irwin Forest
Meyer Inlet
Jennifer Run
Donovan Brooks
Murphy Ports
Miller Oval
Kathryn Views
Long Camp
King Street
Fleming Estates
Berg Courts
Dean Divide
Mark Centers
White Extension
Joshua Forest
Lane Mews
Ashley Road
Emma Skyway
Rogers Throughway
Lewis Rest
Fitzpatrick Heights
Kyle River
Scott Spring
Kimberly Flat
Russell Station
Ashley Plaza
Washington Expressway
Pitts Parkways
King Forge
Jeff Knolls
Mccoy Fords
Gabriel Drives
Hoffman Hollow
Navarro Ford
Natalie Mews
Cheryl Curve
Cain Skyway
Odonnell Forge
Riley Alley
Kimberly Junction
Williams Manor
Ellis Lock
Ashley Mission
Simmons Springs
Kelly Mills
John Valley
Kelly Lake
Kelly Heights
Tara Station
Hanson Bridge
David Glens
Fox Walk
David Gateway
Smith Circle
Osborn Stream
Smith Light
Alicia Mill
Morrison Lane
Patricia Shoals
Karen Rapid
Powell Manor
Smith Roads
Trevor Street
Peter View
Rivera Turnpike
Camacho Dale
Smith Lake
Mccormick Haven
Richard Place
Dyer Tunnel
Virginia Rapid
Barbara Ville
Phillips Passage
Barber Corners
Chan Turnpike
Mccall Union
Brian Fork
Julie Hollow
Chris Ridge
Kimberly Fords
Christina Valleys
Catherine Shores
Kathy Keys
Sandra Meadow
Scott Hills
Jacqueline Junctions
Corey Rapids
Shaw View
Clements Tunnel
Black Fort
Wright Points
Miller Meadow
Derrick Heights
Amber Courts
Robert Plains
Johnson Heights
Jeanne Lodge
Tammy Trafficway
Leslie Prairie
Tyler Forks
Valdez Pine
Jackson Green
Sonya Ports
Sullivan Highway
Cunningham Via
Phyllis Trail
Mitchell Flats
Jason Summit
Cristina Way
Kelli Court
Thornton Corners
Bradley Viaduct
Lauren Square
Christensen Plaza
Patricia Junction
Sutton Isle
Charles Spring
Martin Pine
Clark Brook
Casey Garden
Michelle Trafficway
Derek Brooks
Barbara Fort
Davis Mission
Warren Prairie
Omar Corners
Williams Camp
Kylie Loaf
Sonya Summit
Mary Forest
Jackson Stravenue
Morton Rapids
Scott Cape
Sarah Grove
Christian Mews
Tran Islands
Rich Knoll
Wong Ferry
Ramos Isle
Jennifer River
Hill Ramp
Robert Spurs
Grant Walk
Nelson Burgs
Greene Shoal
Roth Estate
Thompson Loop
Walsh Road
Heather Viaduct
Figueroa Extension
Justin Corner
Harrell View
Paul Key
Kimberly Ports
Brian Cliffs
Griffin Road
Natalie Ports
Kennedy Island
Moore Rue
Michael Village
Nelson Causeway
Miller Ferry
Richard Corners
Fowler Avenue
Davis Tunnel
Melissa Unions
Livingston Courts
Timothy Mountains
Joshua Inlet
Melanie Neck
Amber Walks
David Mission
David Freeway
Martin Brook
Archer Loaf
White Island
Greene Ranch
Lee Trace
Victor Lodge
Tucker Place
Holly Prairie
Justin Junctions
Nichole Circles
Chen Port
Logan Isle
Simmons Alley
Ryan Viaduct
Christy Rapids
Gross Mews
Moreno Flats
Turner Locks
Turner Islands
Michele River
Madison Throughway
Berger Road
Mark Center
Oconnor Square
Montoya Trafficway
Ryan Gardens
Patrick Parks
Eric Highway
James Hill
Mendoza Avenue
Maria Hill
Shelton Key
Lee Valley
Lyons Drives
Kevin Unions
Adam Trace
Abigail Path
Hannah Village
Charles Unions
Collins Shores
Sims Extensions
Steven Corner
Gordon Isle
Smith Fort
Tammy Via
Webb Village
Smith Run
Phillips Inlet
Kimberly Ways
Collins Garden
Davis Trail
Mayer Crest
Barnett Ridges
Pham Inlet
Stephen Extensions
Ruiz Radial
Eric Extensions
Walton Loaf
Simpson Isle
Key Park
Tamara Mill
David Isle
Patricia Run
Catherine Crest
Morrison Extensions
Walters Run
Anthony Passage
Nielsen Passage
Rachel Spur
Eric Ville
Smith Plains
Jordan Bridge
Kathy Ville
Gibson Mountains
Vargas Crossroad
Martin Mount
Thomas Knoll
Oliver Village
Martin Haven
Nicole Park
Erika Overpass
Vincent Walk
Courtney Vista
Kim Manors
Colleen Neck
Michael Ferry
Timothy Burgs
Gutierrez Tunnel
Downs Creek
Perez Canyon
Dawn Drives
Flowers Row
Green Dale
David Wells
Schmidt Canyon
Samantha Flat
Stevens Ways
Spencer Trafficway
Brandon Branch
""".strip().splitlines())

COMPANIES = tuple("""
Davis-Acevedo
Clark Group
Beard PLC
Ortiz, Cooper and Case
Jackson Group
White, Sherman and Webb
West, Santiago and Campbell
Gonzales, Wolf and Robinson
Garcia-Richardson
Rodriguez Ltd
Davidson LLC
Williams, Preston and Meyer
Anderson-Berry
Smith, Miller and Lowe
Marsh Inc
Hampton, Crawford and Stone
Chavez-Foster
Schaefer-Shields
Alvarado, Mcgrath and Bradley
Jordan-Obrien
Fitzgerald Group
Miller-Mcdonald
Perez-Roth
Lopez Inc
Coleman-Huerta
Gibson-Stewart
Preston, Walsh and Zuniga
Ryan PLC
Simmons Group
Hansen PLC
Vargas-Carson
Jones-Shaffer
Bennett-Watson
Williams, Hansen and Tucker
Jimenez-Clark
Brown, Clarke and Brown
Carroll, Quinn and Randolph
Fuller, Romero and Murray
Flores PLC
Gonzalez Group
Collier Ltd
Smith-Morrison
Gibson, Yates and Sellers
Taylor-Pope
Martin, Johnson and Torres
Hill Ltd
Dominguez-Davis
Miles, Harrison and Perez
Stevenson LLC
Stevenson, Phillips and Graham
Davis Ltd
Hunter-Turner
Turner Inc
Walton PLC
Vega, Jacobs and Jackson
Gilbert and Sons
Harvey, Carroll and Blankenship
Pena, Johnson and Higgins
Garcia Ltd
Martinez, Escobar and Dillon
Gonzalez and Sons
Eaton-Gilbert
Boyd, Ellis and Holt
Roberts PLC
Reynolds-Bell
Skinner, Dunn and Allen
Hines, Leonard and Serrano
Schmidt Inc
Brown-Carter
Adams, Thompson and Nunez
Watson Ltd
Ortega, Butler and Harrison
Baker-Evans
Martinez-Nicholson
Hooper Inc
Leach Inc
Davenport-Huff
Dixon Ltd
Schroeder, Armstrong and Hicks
Bell, Ford and Garcia
Barnes, Goodwin and Cohen
Hudson LLC
Peterson-Graham
Olsen-Rogers
Obrien Ltd
Quinn Inc
Coleman, Sims and Johnson
Hernandez-Lozano
Walker, Bell and Wilson
Padilla, Rodriguez and Pittman
Smith-Suarez
Burgess, Rice and Sutton
Wyatt, Ramsey and Perez
Parker Group
White Group
Campbell-Harris
Graham, Davis and Myers
Bartlett-Green
West, Gordon and Jones
Craig-Smith
Bright and Sons
Jackson-Barnett
Harper and Sons
Carlson Ltd
Barton-Macdonald
Sims, Ellis and Mcpherson
Stanley-Schmidt
Wolfe LLC
Lowe, Malone and Edwards
Ramos Group
Cervantes, Hickman and Barnes
Sweeney-Pierce
Brown and Sons
Russell LLC
Sullivan and Sons
Bates and Sons
Byrd-Rich
Shepherd, Jones and Cabrera
Garcia Inc
Woods-Woods
Mcdowell, Ray and Jackson
Chavez Group
Austin-James
Byrd LLC
Kelley-Mcdowell
Watson, Robinson and Travis
Mcdonald, Miller and Martin
Rice-Mitchell
Jones, Bridges and Harris
Esparza-Edwards
Powell PLC
Valentine, Thomas and Jennings
Barrett, Hale and Bush
Payne, Chavez and Moyer
Sanders-Martinez
Davis, Fernandez and Pearson
Stafford-Marshall
Valdez-Patterson
Gentry Inc
Mahoney Inc
Rosales, Caldwell and Palmer
Sullivan, Burton and Atkinson
Brown Group
Fernandez-Miller
Olsen, Harmon and Robinson
Johnson Ltd
Lee-Burns
Malone, Mitchell and Howell
Lucas-Holden
Wang, Brown and Smith
Powell and Sons
Cooper-Bailey
Thompson-Murray
Flowers, Perez and Cook
Schneider-Evans
Rice-Mccormick
Romero-Thomas
Martinez Inc
Ramirez, Green and Joseph
Marshall Group
Johnson-Vega
Williams, Miles and Daniel
Sullivan Ltd
Robinson, Ross and Hughes
Smith-Thompson
Matthews, Johnson and Williams
Manning, Livingston and Carter
Sims-Burton
Bell Group
Blackburn PLC
Hudson, Webb and Walter
Bonilla-Robbins
Becker and Sons
Berry-Holland
Erickson, Ware and Clark
Bryant-Smith
Reed Inc
Jenkins, Clay and Russell
Franklin LLC
Sharp-Mitchell
Hogan-Martinez
Curry-Marsh
Mathews-Burke
Alexander, Lester and Torres
Sanders, Ruiz and Weeks
Gordon, Hull and Harvey
Evans and Sons
Knight, Stanton and Steele
Edwards Group
Jennings LLC
Johnson, Mcgee and Blackburn
Guerrero and Sons
Miller-Weber
Aguilar, Ruiz and Jensen
Oconnor, Schroeder and Hoffman
Mayer-Andrews
Anderson-Thomas
Cameron, Li and Smith
Rogers, Khan and Clay
Brown LLC
Cook-Johnson
Hendrix, Garza and Mclaughlin
Duke and Sons
Flynn-Lucas
Taylor, Schmidt and Estrada
Mcclain, Jones and English
Sanders Group
Turner, Lawrence and Hahn
Bell-Johnson
Miller, Wilson and Smith
Harvey, Kelly and Rodriguez
Lee-Fletcher
Clayton-Delacruz
Morton, Harris and Green
Perez, Williams and Schmidt
Stevens-Cox
Mendez, Smith and Chavez
Nguyen-Allen
Meyer-Lin
Yang, Bentley and Smith
Marshall-Kelley
Frye-Jackson
Hopkins, Morrison and Mosley
Novak Inc
Perry, Rogers and Bailey
Sanders LLC
Robinson Ltd
Brown PLC
Turner, Maxwell and Frost
Blackwell-Green
Moreno and Sons
Thomas PLC
Hayes Ltd
Espinoza, Lopez and Wood
Randall LLC
King-Sanders
Miller and Sons
Sanders-Nixon
Evans-Manning
Wade Group
Washington-Flores
Gonzalez, Lee and Campbell
Adams Inc
Burns-Nelson
Price, Juarez and Stone
Green-Black
Mcconnell, Hall and Willis
Dawson, Taylor and Brown
Gray, Estrada and Brown
Delgado Ltd
Johnson LLC
Jenkins, Camacho and Dunn
Costa-Day
Drake, Juarez and Brown
Martin, Raymond and Henry
Ross, Walsh and Vasquez
Peterson, Hughes and Church
Humphrey-Castillo
Blair, Hall and Marshall
Adams PLC
Thomas, Johnson and Mcknight
Powers-Rodriguez
Wilson, Nielsen and Castro
Johnson, Hawkins and Evans
Wagner-Cooper
Jones-Bailey
Ashley PLC
Drake, Sanchez and Bell
Richards Inc
Montgomery, Erickson and Parker
Martin, Buck and Moore
Norris, Ryan and Chapman
Aguilar, Chandler and Daniels
Allen Inc
Guzman LLC
Lee-Khan
Lucero Inc
Boyd and Sons
Morgan-Potter
Campos-Williams
Torres-Key
Bailey-Sanders
Mitchell and Sons
Santos LLC
Garcia, Ryan and Ramirez
Simon-King
Ball-Cain
Lin Group
Anderson Group
Duffy-Smith
Hicks, Cowan and Meyer
Cox and Sons
Weeks, Johnson and Ramos
Faulkner-Bell
Palmer Ltd
Brown, Newton and Fletcher
Martinez LLC
Clark-Johnson
Phillips, Larson and Hernandez
Garcia PLC
""".strip().splitlines())

STATES = tuple("""
Alabama
Alaska
Arizona
Arkansas
California
Colorado
Connecticut
Delaware
Florida
Georgia
Hawaii
Idaho
Illinois
Indiana
Iowa
Kansas
Kentucky
Louisiana
Maine
Maryland
Massachusetts
Michigan
Minnesota
Mississippi
Missouri
Montana
Nebraska
Nevada
New Hampshire
New Jersey
New Mexico
New York
North Carolina
North Dakota
Ohio
Oklahoma
Oregon
Pennsylvania
Rhode Island
South Carolina
South Dakota
Tennessee
Texas
Utah
Vermont
Virginia
Washington
West Virginia
Wisconsin
Wyoming
""".strip().splitlines())

JOBS = tuple("""
Medical laboratory scientific officer
Administrator, education
Control and instrumentation engineer
Editor, magazine features
Recruitment consultant
Engineer, communications
Consulting civil engineer
Designer, graphic
Podiatrist
Orthoptist
Outdoor activities/education manager
Ergonomist
IT sales professional
Water engineer
Retail manager
Investment analyst
Gaffer
Applications developer
Automotive engineer
Accountant, chartered
Civil Service fast streamer
Financial trader
Hydrographic surveyor
Geophysicist/field seismologist
Investment banker, operational
Armed forces logistics/support/administrative officer
Careers information officer
Contracting civil engineer
Engineer, mining
Engineering geologist
Producer, radio
Radio broadcast assistant
Civil Service administrator
Personnel officer
Computer games developer
Press photographer
Web designer
Insurance claims handler
Engineer, building services
Police officer
Medical sales representative
Engineer, production
Education administrator
Engineer, civil (contracting)
Water quality scientist
Secretary, company
Therapist, occupational
Editorial assistant
Phytotherapist
Transport planner
Teacher, early years/pre
Social research officer, government
Banker
Community arts worker
Insurance underwriter
Risk manager
Dietitian
Minerals surveyor
Teaching laboratory technician
Paramedic
Warden/ranger
Animal nutritionist
Administrator, local government
Farm manager
Training and development officer
Illustrator
Surveyor, mining
Pharmacologist
Programme researcher, broadcasting/film/video
Engineer, electronics
Sports development officer
Journalist, newspaper
Nutritional therapist
Cartographer
Runner, broadcasting/film/video
Land/geomatics surveyor
Designer, fashion/clothing
Fast food restaurant manager
Engineer, agricultural
Interior and spatial designer
Restaurant manager, fast food
Field trials officer
Soil scientist
Operational researcher
Film/video editor
Government social research officer
Financial manager
Programmer, applications
Designer, blown glass/stained glass
Conservation officer, nature
Building surveyor
Engineer, manufacturing systems
Brewing technologist
Television floor manager
Media buyer
Social worker
Research officer, political party
Research officer, trade union
Higher education lecturer
Neurosurgeon
Engineer, site
Clinical molecular geneticist
Advertising account executive
Engineer, petroleum
Broadcast journalist
Engineer, broadcasting (operations)
Interpreter
Engineer, aeronautical
Tour manager
Scientist, clinical (histocompatibility and immunogenetics)
Location manager
Occupational hygienist
Customer service manager
Historic buildings inspector/conservation officer
Sports therapist
Optician, dispensing
Lobbyist
Scientific laboratory technician
Clothing/textile technologist
Actor
Doctor, hospital
Tax inspector
Forensic scientist
Retail merchandiser
Manufacturing engineer
Electrical engineer
Scientist, research (medical)
Engineer, maintenance (IT)
Teacher, primary school
Designer, textile
Bonds trader
Teacher, English as a foreign language
Nature conservation officer
Colour technologist
Local government officer
Aeronautical engineer
Designer, ceramics/pottery
Financial adviser
Optometrist
Architectural technologist
Midwife
Psychotherapist
Engineer, water
Speech and language therapist
Ecologist
Recycling officer
Psychotherapist, child
Air broker
Games developer
Patent attorney
Printmaker
Therapist, sports
Health and safety adviser
Medical illustrator
Science writer
Psychologist, sport and exercise
Counsellor
Loss adjuster, chartered
Planning and development surveyor
Set designer
Retail buyer
Scientist, research (life sciences)
Designer, exhibition/display
Merchant navy officer
Archivist
Catering manager
Psychologist, educational
Early years teacher
Charity fundraiser
Advertising account planner
Education officer, museum
Agricultural engineer
Biomedical scientist
Pharmacist, hospital
Forensic psychologist
Hotel manager
Visual merchandiser
Health visitor
Conservation officer, historic buildings
Psychiatric nurse
Careers adviser
Fish farm manager
Producer, television/film/video
Scientist, forensic
Programmer, multimedia
Commissioning editor
Chartered management accountant
Designer, jewellery
Advice worker
Patent examiner
Electronics engineer
Industrial/product designer
Mudlogger
Trade mark attorney
Radiation protection practitioner
Publishing copy
Designer, television/film set
Music tutor
Health promotion specialist
Multimedia specialist
""".strip().splitlines())

COUNTRY_CODES = tuple("""
AD AE AF AG AL AM AO AR AT AU AZ BA BB BD BE BF BG BH BI BJ BN BO BR BS BT BW BY BZ CA
CD CF CG CH CI CL CM CN CO CR CU CV CY CZ DE DJ DK DM DO DZ EC EE EG ER ES ET FI FJ FM
FR GA GB GD GE GH GM GN GQ GR GT GW GY HN HR HT HU ID IE IL IN IQ IR IS IT JM JO JP KE
KG KH KI KM KN KP KR KW KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MG MH MK ML MM
MN MR MT MU MV MW MX MY MZ NA NE NG NI NL NO NP NR NZ OM PA PE PG PH PK PL PS PT PW PY
QA RO RS RU RW SA SB SC SD SE SG SI SK SL SM SN SO SR ST SV SY SZ TD TG TH TJ TL TM TN
TO TR TT TV TW TZ UA UG US UY UZ VA VC VE VN VU WS YE ZA ZM ZW
""".split())
